"""Typed records of a recipe's settings sections: ``train`` (:mod:`.train`) and ``eval``
(:mod:`.inference`). Each field carries its type, default and limits; recipes, the CLI and the
trainer and inferers read them from here and nowhere else."""
