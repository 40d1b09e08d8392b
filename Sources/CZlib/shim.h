#include <zlib.h>

/// `deflateInit2` is a macro, which Swift cannot call.
static inline int etl_deflate_init_gzip(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16 /* gzip wrapper */, 8, Z_DEFAULT_STRATEGY);
}
