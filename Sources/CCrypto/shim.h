// OpenSSL's libcrypto, for SHA-256: it uses the CPU's SHA instructions where there are any.
#include <openssl/evp.h>
