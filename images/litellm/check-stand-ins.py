"""Build-time check: the packages overrides.txt stands in for LiteLLM's unpublished pins
(litellm-enterprise, litellm-proxy-extras: the closest published release of the same base
version) provide every module and name LiteLLM imports from them.

Reads sources only (nothing is imported or executed). Usage: python check-stand-ins.py SITE_PACKAGES
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


PACKAGES = ("litellm_enterprise", "litellm_proxy_extras")
wanted: dict[str, set[str]] = {}
for src in (site / "litellm").rglob("*.py"):
    try:
        tree = ast.parse(src.read_text(encoding="utf-8"))
    except SyntaxError:
        continue
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
            wanted.setdefault(node.module, set()).update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
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
    print("the stand-ins lack what litellm imports:\n  " + "\n  ".join(missing), file=sys.stderr)
    sys.exit(1)
for package in PACKAGES:
    n = sum(1 for m in wanted if m.split(".")[0] == package)
    if n == 0:
        sys.exit(f"litellm imports nothing from {package}: is this check still looking at the right package?")
    print(f"{package} provides all {n} modules litellm imports from it")
