"""A functional Keras model's graph, walked as cnnrun's layer list: chains, and residual blocks
(an `Add` of a chain and its identity or 1x1 projection shortcut), nested. Plain Python."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnnrun.interop.keras.read import KerasModelFile
from cnnrun.interop.keras.read import refuse as _refuse


def tensors(spec: Any) -> list:
    """A functional model's input or output tensors: `[name, 0, 0]` is one, a list of those
    several."""
    if not spec:
        return []
    return [spec] if isinstance(spec[0], str) else list(spec)


def _parents(inbound: list) -> list[str]:
    """The names of the layers feeding a functional layer (Keras 3 and Keras 2 layouts)."""
    names: list[str] = []
    for node in inbound:
        if isinstance(node, dict):  # Keras 3: {"args": [{"class_name": "__keras_tensor__", ...}]}
            for arg in node.get("args", []):
                for t in arg if isinstance(arg, list) else [arg]:
                    if isinstance(t, dict) and "keras_history" in t.get("config", {}):
                        names.append(t["config"]["keras_history"][0])
        elif isinstance(node, list):  # Keras 2: [[name, node_index, tensor_index, kwargs]]
            names += [item[0] for item in node if isinstance(item, list) and item]
    return names


Node = tuple  # ("layer", name) or ("residual", inner nodes, projection | None, add, act | None)


@dataclass
class Graph:
    """A Keras model's layers by name, with who feeds whom."""

    model: KerasModelFile
    layers: dict[str, dict]
    index: dict[str, int]
    consumers: dict[str, list[str]]
    parents: dict[str, list[str]]
    start: str

    @classmethod
    def of(cls, model: KerasModelFile, layers: list[dict]) -> Graph:
        named = {str((lay.get("config") or {}).get("name", i)): lay for i, lay in enumerate(layers)}
        index = {n: i for i, n in enumerate(named)}
        if model.config.get("class_name") == "Sequential":  # a chain, in list order
            body = [n for n in named if named[n]["class_name"] != "InputLayer"]
            parents = {b: [a] for a, b in zip(["<input>", *body], body, strict=False)}
            start = "<input>"
        else:
            parents = {n: _parents(lay.get("inbound_nodes") or []) for n, lay in named.items()}
            start = next(n for n, lay in named.items() if lay["class_name"] == "InputLayer")
        consumers: dict[str, list[str]] = {n: [] for n in [*named, "<input>"]}
        for n, ps in parents.items():
            for p in ps:
                consumers.setdefault(p, []).append(n)
        graph = cls(model, named, index, consumers, parents, start)
        graph._require_acyclic()
        return graph

    def _require_acyclic(self) -> None:
        """Refuse a graph in which a layer feeds itself, directly or not: walking it would
        never end (Kahn's algorithm: what cannot be ordered lies on a cycle)."""
        waiting = {n: len([p for p in ps if p in self.layers]) for n, ps in self.parents.items()}
        ready = [n for n, k in waiting.items() if k == 0]
        ordered = 0
        while ready:
            n = ready.pop()
            ordered += 1
            for c in self.consumers.get(n, []):
                if c in waiting:
                    waiting[c] -= 1
                    if waiting[c] == 0:
                        ready.append(c)
        if ordered < len(waiting):
            stuck = min((n for n, k in waiting.items() if k > 0), key=self.index.get)
            raise _refuse(self.model.path, f"its graph has a cycle through {self.where(stuck)}")

    def cls(self, name: str) -> str:
        return str(self.layers[name]["class_name"])

    def where(self, name: str) -> str:
        return f"layer {self.index[name]} ({self.cls(name)})"

    def nodes(self) -> list[Node]:
        nodes, join = self._from(self.start)
        if join is not None:
            raise _refuse(
                self.model.path,
                f"{self.where(join)} adds tensors that do not come from one residual branch",
            )
        return nodes

    def _from(self, x: str) -> tuple[list[Node], str | None]:
        """The nodes fed by `x`'s output, along the chain, up to an `Add` that ends a branch."""
        nodes: list[Node] = []
        while True:
            cons = self.consumers.get(x, [])
            if not cons:
                return nodes, None
            if len(cons) == 1 and self.cls(cons[0]) == "Add":
                return nodes, cons[0]
            if len(cons) == 1:
                nodes.append(("layer", cons[0]))
                x = cons[0]
                continue
            block, x = self._block(x)
            nodes.append(block)

    def _branch(self, first: str) -> tuple[list[Node], str | None]:
        if self.cls(first) == "Add":
            return [], first
        rest, join = self._from(first)
        return [("layer", first), *rest], join

    def _block(self, x: str) -> tuple[Node, str]:
        cons = self.consumers[x]
        branches = [self._branch(c) for c in cons]
        joins = {j for _, j in branches}
        if len(cons) != 2 or len(joins) != 1 or None in joins:
            raise _refuse(
                self.model.path,
                f"the output of {self.where(x)} branches in a way other than a residual block "
                "(an Add of a chain of layers and its shortcut)",
            )
        (add,) = joins
        branches.sort(key=lambda b: (len(b[0]) > 1 or not self._shortcut(b[0]), len(b[0])))
        (short, _), (inner, _) = branches
        last, act = add, None
        after = self.consumers.get(add, [])
        if len(after) == 1 and self.cls(after[0]) in ("Activation", "ReLU"):
            last = act = after[0]
        projection = short[0][1] if short else None
        return ("residual", inner, projection, add, act), last

    def _shortcut(self, nodes: list[Node]) -> bool:
        """An identity (no layer) or one 1x1 convolution."""
        if not nodes:
            return True
        if len(nodes) != 1 or nodes[0][0] != "layer" or self.cls(nodes[0][1]) != "Conv2D":
            return False
        return list((self.layers[nodes[0][1]].get("config") or {}).get("kernel_size", [])) == [1, 1]
