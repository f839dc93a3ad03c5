"""The package's layers, read from its source: which module imports which.

The layers, lowest first. A module may import from its own subpackage and from
any layer strictly below its own; nothing else. :func:`violations` lists every
import against that direction and every import circle; the test suite fails
on any, and the contributor guide's diagram is drawn from :func:`import_graph`
at build time so it cannot go stale.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LAYERS", "Import", "import_graph", "layer_of", "markdown", "mermaid", "violations"]

# rank: packages on one rank must not import each other
LAYERS: dict[str, int] = {
    "stats": 0, "host": 0, "workload": 0,
    "results": 1,
    "measure": 2,
    "run": 3, "casestudies": 3, "tune": 3,
    "site": 4,
    "cli": 5,
}

PACKAGE_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Import:
    """``importer`` imports ``imported`` (dotted names under ``edgetiming``) at ``line``."""

    importer: str
    imported: str
    line: int
    top_level: bool


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path = PACKAGE_DIR) -> list[Import]:
    """Every import of an ``edgetiming`` module by an ``edgetiming`` module, in source order."""
    modules = {_module_name(p, root) for p in root.rglob("*.py")}
    found: list[Import] = []
    for path in sorted(root.rglob("*.py")):
        name = _module_name(path, root)
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = name.split(".")[: len(name.split(".")) - node.level + (path.name == "__init__.py")]
                    base = ".".join(pkg + ([base] if base else []))
                # "from edgetiming.stats import quantiles" imports the module quantiles
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                if target.startswith("edgetiming.") and target != name:
                    found.append(Import(name, target, node.lineno, id(node) in top))
    return found


def layer_of(module: str) -> str | None:
    """The layer (first subpackage or module under ``edgetiming``), or None for the package root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def violations(root: Path = PACKAGE_DIR) -> list[str]:
    """Each import against the layer direction, and each import circle, as a sentence."""
    problems: list[str] = []
    edges: dict[str, set[str]] = {}
    for imp in import_graph(root):
        edges.setdefault(imp.importer, set()).add(imp.imported)
        a, b = layer_of(imp.importer), layer_of(imp.imported)
        if a is None or b is None or a == b:
            continue
        if a not in LAYERS or b not in LAYERS:
            problems.append(f"{imp.importer} (line {imp.line}) imports {imp.imported}: "
                            f"add its layer to edgetiming.site.architecture.LAYERS")
        elif LAYERS[b] >= LAYERS[a]:
            problems.append(f"{imp.importer} (line {imp.line}) imports {imp.imported}, but layer {a!r} "
                            f"may only import layers below it; move the shared code down a layer")
    for comp in _cycles(edges):
        problems.append("import circle: " + " -> ".join(comp) + "; move what both need into a lower module")
    return problems


def mermaid(root: Path = PACKAGE_DIR) -> str:
    """A Mermaid flowchart of the layers and the imports between them, drawn from the code."""
    pairs = sorted({(layer_of(i.importer), layer_of(i.imported)) for i in import_graph(root)
                    if layer_of(i.importer) and layer_of(i.imported)
                    and layer_of(i.importer) != layer_of(i.imported)})
    lines = ["flowchart TD"]
    for a, b in pairs:
        lines.append(f"    {a} --> {b}")
    return "\n".join(lines)


def _summary(root: Path, layer: str) -> str:
    """The first line of a subpackage's docstring (or of ``cli.py``'s)."""
    path = root / layer / "__init__.py" if (root / layer).is_dir() else root / f"{layer}.py"
    doc = ast.get_docstring(ast.parse(path.read_text("utf-8"))) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def markdown(root: Path = PACKAGE_DIR) -> str:
    """The contributor guide's architecture section, drawn from the code: the layers, lowest first,
    each with the layers it imports and its one-line purpose, then the Mermaid source of the diagram."""
    graph = import_graph(root)
    uses: dict[str, set[str]] = {}
    for imp in graph:
        a, b = layer_of(imp.importer), layer_of(imp.imported)
        if a and b and a != b:
            uses.setdefault(a, set()).add(b)
    lines = ["| Rank | Subpackage | Imports from | What it holds |", "|---|---|---|---|"]
    for layer in sorted(LAYERS, key=lambda name: (LAYERS[name], name)):
        target = f"edgetiming.{layer}"
        imports = ", ".join(f"`{u}`" for u in sorted(uses.get(layer, ()), key=lambda u: (LAYERS.get(u, 99), u)))
        lines.append(f"| {LAYERS[layer]} | `{target}` | {imports or 'nothing in edgetiming'} "
                     f"| {_summary(root, layer).replace('|', '&#124;')} |")
    counts = f"{len(graph)} imports between edgetiming modules; {len(violations(root))} against the layers or in a circle."
    lines += ["", counts, "",
              '<details markdown="1"><summary>The same graph as a Mermaid flowchart</summary>', "",
              "```mermaid", mermaid(root), "```", "", "</details>"]
    return "\n".join(lines)
