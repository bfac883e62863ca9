#!/bin/bash
# docs_links: every relative link in README.md and docs/*.md points to a file that
# exists, and a `#anchor` to a heading of that file (GitHub's anchors: lowercase,
# punctuation dropped, spaces as '-', a repeated heading gets -1, -2, ...). Links
# to the web, and relative links that leave the repository (../shared/DESIGN.md), are
# not checked. Fenced code blocks and `code spans` are not links.
#   docs_links_test.sh SOURCE_DIR
set -euo pipefail
SRC=$(realpath "${1:?usage: docs_links_test.sh SOURCE_DIR}")
cd "$SRC"

# The text of a markdown file outside fenced code blocks, inline code removed.
prose() {
  awk '/^[[:space:]]*(```|~~~)/ { fenced = !fenced; next } !fenced { print }' "$1" |
    sed -e 's/`[^`]*`//g'
}

# The anchors of a markdown file's headings, one a line.
anchors() {
  awk '/^[[:space:]]*(```|~~~)/ { fenced = !fenced; next }
       !fenced && /^#+[[:space:]]/ {
         h = $0
         sub(/^#+[[:space:]]+/, "", h); sub(/[[:space:]]+#*[[:space:]]*$/, "", h)
         h = tolower(h)
         gsub(/[^a-z0-9 _-]/, "", h)
         gsub(/ /, "-", h)
         n = seen[h]++
         print (n ? h "-" n : h)
       }' "$1"
}

files=(README.md docs/*.md)
broken=0
checked=0
for file in "${files[@]}"; do
  dir=$(dirname "$file")
  while IFS= read -r target; do
    case "$target" in http://* | https://* | mailto:*) continue ;; esac
    path=${target%%#*}
    anchor=
    [[ $target == *"#"* ]] && anchor=${target#*#}
    if [ -z "$path" ]; then
      resolved=$SRC/$file
    else
      resolved=$(realpath -m "$SRC/$dir/$path")
    fi
    case "$resolved" in "$SRC" | "$SRC"/*) ;; *) continue ;; esac
    checked=$((checked + 1))
    if [ ! -e "$resolved" ]; then
      echo "docs_links: $file: link ($target): no file ${resolved#"$SRC"/}" >&2
      broken=$((broken + 1))
      continue
    fi
    if [ -n "$anchor" ] && [[ $resolved == *.md ]]; then
      if ! anchors "$resolved" | grep -qxF -- "$anchor"; then
        echo "docs_links: $file: link ($target): no heading with anchor #$anchor in ${resolved#"$SRC"/}" >&2
        broken=$((broken + 1))
      fi
    fi
  done < <(prose "$file" | grep -oE '\]\([^)[:space:]]+\)' | sed -e 's/^](//' -e 's/)$//')
done

[ "$checked" -gt 0 ] || { echo "docs_links: no relative links found: is $SRC the repository?" >&2; exit 1; }
[ "$broken" = 0 ] || { echo "docs_links: $broken broken link(s) of $checked" >&2; exit 1; }
echo "docs_links: ok ($checked relative links in ${#files[@]} files)"
