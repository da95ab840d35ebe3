#!/usr/bin/env bash
# Points every citation of the old design notes (kept outside the repository) at the pages in
# docs/, so a fresh clone can follow each one:
#
#   semantics §B8, feathers-semantics §C7   → docs/feathers-semantics.md §B8, … §C7
#   protocol.md §4                           → docs/protocol.md §4
#   DESIGN §5, DESIGN.md §1–§2               → docs/architecture.md §5, … §1–§2 (same numbers)
#   STYLE.md                                 → docs/architecture.md §7 (how we write code)
#   <page>.md in the old shared folder (one level up, or /work) → the docs/ page
#
# A citation split over two comment lines ("semantics\n//! §E22") is rewritten too. A file
# that cites letter sections (§D4) without ever naming the page gets the page named at its
# first such citation. Section ids are unchanged: docs/ keeps the old ids.
#
# Idempotent: run it again after merging branches that touched the same files; rewritten
# citations no longer match. Usage: tools/rewrite-doc-citations.sh  (from anywhere)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
self="tools/rewrite-doc-citations.sh"

# Between a page name and its section: one space, or a line break and the next line's comment
# leader (`//`, `///`, `//!`, `#`, `*`).
sep='( |\n[[:space:]]*(//[/!]?|#|\*)?[[:space:]]*)'

mapfile -t files < <(
  grep -rlIE --exclude-dir=node_modules --exclude-dir=target --exclude-dir=.git \
    '§|shared/|STYLE\.md' crates bench interop tools scripts clippy.toml 2>/dev/null |
    grep -vxF "$self" || true
)

for f in "${files[@]}"; do
  sed -E -z -i \
    -e 's%(\.\./|/work/)shared/protocol\.md%docs/protocol.md%g' \
    -e 's%(\.\./|/work/)shared/feathers-semantics\.md%docs/feathers-semantics.md%g' \
    -e 's%(\.\./|/work/)shared/DESIGN\.md%docs/architecture.md%g' \
    -e 's%(\.\./|/work/)shared/STYLE\.md%docs/architecture.md §7%g' \
    -e "s%(^|[^/])feathers-semantics(\\.md)?${sep}§%\\1docs/feathers-semantics.md\\3§%g" \
    -e "s%(^|[^-/A-Za-z_])semantics(\\.md)?${sep}§%\\1docs/feathers-semantics.md\\3§%g" \
    -e "s%(^|[^/A-Za-z_])protocol(\\.md)?${sep}§%\\1docs/protocol.md\\3§%g" \
    -e "s%(^|[^/A-Za-z_])DESIGN(\\.md)?${sep}§%\\1docs/architecture.md\\3§%g" \
    -e 's%(^|[^/A-Za-z_])STYLE\.md%\1docs/architecture.md §7%g' \
    "$f"
  # Letter sections cited without the page anywhere in the file: name it once.
  if ! grep -q 'feathers-semantics\.md' "$f" && grep -qE '§[A-H][0-9]' "$f"; then
    sed -E -z -i 's%(^|[^.A-Za-z])§([A-H][0-9])%\1docs/feathers-semantics.md §\2%' "$f"
  fi
done

# What is left pointing outside the repository (should print nothing).
grep -rnIE --exclude-dir=node_modules --exclude-dir=target \
  '\.\./shared|/work/shared|(^|[^/A-Za-z_-])(semantics|DESIGN|STYLE)(\.md)? §' \
  crates bench interop tools scripts clippy.toml | grep -v "^$self:" || true
