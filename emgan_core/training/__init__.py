"""The generic GAN trainer: one loop for every method, driven by the recipe's Task.

Import what you need from its modules (:mod:`.trainer`, :mod:`.data`, ...): the package itself
imports nothing, so that a light module of it (the dry run, the data helpers) does not load the
trainer and, through it, the recipe module.
"""
