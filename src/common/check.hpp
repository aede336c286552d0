// OD_CHECK: invariants. A failed check is a bug in Overdrive: it prints where and why, then aborts.
#pragma once

#include <cstdio>
#include <cstdlib>

#define OD_CHECK(cond, msg)                                                        \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "overdrive: internal error at %s:%d: check '%s' failed: %s\n", \
                   __FILE__, __LINE__, #cond, (msg));                              \
      std::abort();                                                                \
    }                                                                              \
  } while (0)
