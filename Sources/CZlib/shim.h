#ifndef IOLOG_CZLIB_SHIM_H
#define IOLOG_CZLIB_SHIM_H

#include <zlib.h>

// inflateInit2 is a function-like macro, which Swift cannot import. 16 + MAX_WBITS reads the
// gzip format (RFC 1952) only.
static inline int iolog_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 16 + MAX_WBITS);
}

#endif
