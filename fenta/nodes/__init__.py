"""Node types: one module per node family. `registry` knows them all."""

from .base import Node, NodeContext, Params, Ports, Registry, register, registry

__all__ = ["Node", "NodeContext", "Params", "Ports", "Registry", "register", "registry"]
