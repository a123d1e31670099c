/* libFuzzer harness for the key slot parser (sk_keyslot_parse): the bytes of
 * keys/<slot>, which anyone who can write the repository's storage controls.
 * The oracle: whatever it accepts is exactly SK_KEYSLOT_SIZE bytes and asks
 * scrypt for no more memory and work than the bounds, since open runs scrypt
 * with those parameters. Seeds: tests/unit/test-keyring.c (SK_WRITE_CORPUS). */
#include <stddef.h>
#include <stdint.h>

#include "repo/keyring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        sk_keyslot ks;
        if (sk_keyslot_parse(data, size, &ks) < 0)
                return 0;
        if (size != SK_KEYSLOT_SIZE || ks.log2n > SK_SCRYPT_LOG2N_MAX || ks.r == 0 || ks.p == 0)
                __builtin_trap();
        uint64_t mem = ((uint64_t) 128 * ks.r) << ks.log2n;
        if (mem > SK_SCRYPT_MAX_MEM || mem * ks.p > SK_SCRYPT_MAX_WORK || ks.host[64] != 0)
                __builtin_trap();
        return 0;
}
