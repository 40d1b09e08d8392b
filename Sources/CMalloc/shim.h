#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

/// glibc's `mallopt(M_ARENA_MAX, arenas)`; nothing on other C libraries.
static inline void etl_limit_malloc_arenas(int arenas) {
#if defined(__GLIBC__)
    mallopt(M_ARENA_MAX, arenas);
#else
    (void)arenas;
#endif
}
