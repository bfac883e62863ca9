// Lookup of embedded queries by name.
#include "persistence/sql_registry.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace postbox::sql {

const char* query(const char* name) {
  for (const auto& q : queries())
    if (std::strcmp(q.name, name) == 0) return q.text;
  std::fprintf(stderr, "postbox: no embedded query named '%s'\n", name);
  std::abort();
}

}  // namespace postbox::sql
