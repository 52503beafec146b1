"""emgan: GAN methods of cryo-EM under one roof — registry, recipes, IO, patches, shared parts."""

from .errors import EmganError, RecipeError, RegistryError  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402
from .records import Command, Component, Model, ModelFile, RecipeDir  # noqa: E402
from .registry import get_registry  # noqa: E402
from .version import __version__  # noqa: E402
from .volume import ImageStack, Volume  # noqa: E402

__all__ = [
    "Command", "Component", "EmganError", "ImageStack", "Model", "ModelFile", "RecipeDir", "RecipeError",
    "RegistryError", "Volume", "__version__", "get_registry", "hookimpl",
]
