"""Build-time check: litellm-enterprise (PyPI 0.1.79.post1, standing in for the unpublished
0.1.79.post2 that litellm 1.108.12 pins) provides every module and name LiteLLM imports from it.

Reads sources only (nothing is imported or executed). Usage: python check-enterprise.py SITE_PACKAGES
"""
import ast
import sys
from pathlib import Path

site = Path(sys.argv[1])


def module_file(name: str) -> Path | None:
    base = site.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names.add(n.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
    return names


wanted: dict[str, set[str]] = {}
for src in (site / "litellm").rglob("*.py"):
    try:
        tree = ast.parse(src.read_text(encoding="utf-8"))
    except SyntaxError:
        continue
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "litellm_enterprise":
            wanted.setdefault(node.module, set()).update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "litellm_enterprise":
                    wanted.setdefault(alias.name, set())

missing: list[str] = []
for module, names in sorted(wanted.items()):
    path = module_file(module)
    if path is None:
        missing.append(f"module {module}")
        continue
    defined = top_level_names(path)
    for name in sorted(names):
        if name != "*" and name not in defined and module_file(f"{module}.{name}") is None:
            missing.append(f"{module}.{name}")

if missing:
    print("litellm_enterprise lacks what litellm imports:\n  " + "\n  ".join(missing), file=sys.stderr)
    sys.exit(1)
print(f"litellm_enterprise provides all {len(wanted)} modules litellm imports from it")
