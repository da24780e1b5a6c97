/*
 * key.h — Ed25519 keys and their C2SP signed-note names (ledger layer).
 *
 * A key has a name (no spaces, no '+', no control characters, 1..64 bytes)
 * and an Ed25519 public key; a private key when loaded from a key file.
 * Key file: text, mode 0600, a "name: NAME" line followed by the private
 * key as PKCS#8 PEM. Private keys never appear in output or error messages.
 */
#ifndef LGFS_KEY_H
#define LGFS_KEY_H

#include <stddef.h>
#include <stdint.h>

#define LGFS_PUBKEY_LEN 32
#define LGFS_SIG_LEN 64
#define LGFS_KEY_NAME_MAX 64

struct lgfs_key;

/* 1 if `name` is a valid key name (1..64 bytes of printable ASCII
 * 0x21..0x7e, no '+'), else 0. */
int lgfs_key_name_valid(const char *name);

/* New random key pair. */
int lgfs_key_generate(struct lgfs_key **out, const char *name);
/* Key pair from a raw 32-byte RFC 8032 private key (the "seed"). For
 * known-answer tests and for importing keys; normal code uses
 * lgfs_key_generate or lgfs_key_load. The caller wipes its seed copy. */
int lgfs_key_from_private_raw(struct lgfs_key **out, const char *name,
			      const uint8_t seed[LGFS_PUBKEY_LEN]);
/* Public-only key. */
int lgfs_key_from_public(struct lgfs_key **out, const char *name, const uint8_t pub[LGFS_PUBKEY_LEN]);
/* Public-only key from a verifier key string name+hex8+base64(0x01||pub);
 * LGFS_EINVAL if malformed or its key id does not match. */
int lgfs_key_from_vkey(struct lgfs_key **out, const char *vkey);

/* Write the private key file: created with O_EXCL and mode 0600, parent
 * directories created 0700. LGFS_EEXISTS if the file exists. */
int lgfs_key_save(const struct lgfs_key *k, const char *path);
/* Read a private key file. LGFS_EPERM if the file is readable or writable
 * by group or others; LGFS_ENOTFOUND if missing; LGFS_EINVAL if malformed. */
int lgfs_key_load(struct lgfs_key **out, const char *path);
/* The key file path: $LEDGERFS_KEY, else $HOME/.config/ledgerfs/key.
 * *out is malloc'd, the caller frees it. */
int lgfs_key_default_path(char **out);

void lgfs_key_free(struct lgfs_key *k);

const char *lgfs_key_name(const struct lgfs_key *k);                 /* borrowed */
const uint8_t *lgfs_key_public(const struct lgfs_key *k);           /* borrowed, 32 bytes */
int lgfs_key_has_private(const struct lgfs_key *k);
/* Signed-note key ID: first 4 bytes (big-endian) of
 * SHA-256(name || 0x0A || type || pubkey); type 0x01 for Ed25519 note
 * signatures, 0x04 for cosignature/v1. */
uint32_t lgfs_key_id(const struct lgfs_key *k, uint8_t type);
/* "name+hex8+base64(0x01||pub)"; *out malloc'd, caller frees. */
int lgfs_key_vkey(const struct lgfs_key *k, char **out);

/* Ed25519 sign (needs the private key) and verify. Thread-safe. */
int lgfs_key_sign(const struct lgfs_key *k, uint8_t sig[LGFS_SIG_LEN], const void *msg, size_t len);
int lgfs_key_verify(const struct lgfs_key *k, const uint8_t sig[LGFS_SIG_LEN], const void *msg, size_t len)
	__attribute__((warn_unused_result));
/* Verify with a raw public key (no key object). */
int lgfs_ed25519_verify(const uint8_t pub[LGFS_PUBKEY_LEN], const uint8_t sig[LGFS_SIG_LEN],
			const void *msg, size_t len) __attribute__((warn_unused_result));

#endif
