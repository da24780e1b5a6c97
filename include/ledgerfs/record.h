/*
 * record.h — records and envelopes: the canonical binary encoding of every
 * state change (ledger layer). docs/FORMAT.md documents the bytes.
 *
 * A record is one state change: who (author key, uid, gid), when (time),
 * where in the log (origin, index, hash of the previous envelope), what
 * (operation type and its typed arguments), and a fresh random salt. Its
 * commitment is SHA-256("ledgerfs/commitment/v1" 0x00 || record bytes), the
 * record bytes starting with the salt. An envelope is the fixed-size public
 * part the log and the Merkle tree carry: index, previous-envelope hash,
 * author, time, commitment, and the author's Ed25519 signature. Plaintext
 * records can be withheld or destroyed; envelopes still verify.
 */
#ifndef LGFS_RECORD_H
#define LGFS_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "note.h"

#define LGFS_FORMAT_VERSION 1
#define LGFS_SALT_LEN 16
#define LGFS_ENVELOPE_LEN 177     /* 1+8+32+32+8+32+64 */
#define LGFS_ENVELOPE_SIGNED_LEN 113 /* envelope bytes covered by the signature */
#define LGFS_RECORD_MAX_ARGS 32
#define LGFS_RECORD_MAX_LEN (1u << 20)
#define LGFS_ARG_MAX_LEN (256u << 10) /* one variable-length argument */

#define LGFS_TAG_COMMITMENT "ledgerfs/commitment/v1"
#define LGFS_TAG_ENVELOPE "ledgerfs/envelope/v1"

/*
 * Operation types. Codes are stable forever: a code is never reused, new
 * operations get new codes. The high byte is the family.
 */
enum lgfs_op {
	LGFS_OP_GENESIS = 0x0001,      /* volume: name, founder key, policy */
	LGFS_OP_POLICY = 0x0002,       /* volume policy change */

	LGFS_OP_CREATE = 0x0101,       /* regular file (or FIFO/socket) in a directory */
	LGFS_OP_MKDIR = 0x0102,
	LGFS_OP_SYMLINK = 0x0103,
	LGFS_OP_MKNOD = 0x0104,        /* device nodes */
	LGFS_OP_WRITE = 0x0105,        /* new version of a file's content */
	LGFS_OP_TRUNCATE = 0x0106,     /* new version by truncate(2) alone */
	LGFS_OP_RENAME = 0x0107,
	LGFS_OP_LINK = 0x0108,
	LGFS_OP_UNLINK = 0x0109,
	LGFS_OP_RMDIR = 0x010a,
	LGFS_OP_SETATTR = 0x010b,      /* chmod, chown, utimens */
	LGFS_OP_SETXATTR = 0x010c,
	LGFS_OP_REMOVEXATTR = 0x010d,

	LGFS_OP_MEMBER_ADD = 0x0201,   /* proposal to admit a key */
	LGFS_OP_MEMBER_VOTE = 0x0202,  /* vote on a proposal */
	LGFS_OP_MEMBER_REMOVE = 0x0203,/* proposal to remove a key */
	LGFS_OP_MEMBER_KICK = 0x0204,  /* cluster: vote to kick an unresponsive server */
	LGFS_OP_KEY_ROTATE = 0x0205,   /* a member replaces its key */

	LGFS_OP_GRANT = 0x0301,        /* rights on a path prefix for a key */
	LGFS_OP_REVOKE = 0x0302,

	LGFS_OP_RETENTION = 0x0401,    /* retention period for a path prefix */
	LGFS_OP_HOLD = 0x0402,         /* legal hold on a path prefix */
	LGFS_OP_HOLD_RELEASE = 0x0403,

	LGFS_OP_TIMESTAMP = 0x0501,    /* RFC 3161 token over a checkpoint */
	LGFS_OP_SHRED = 0x0502,        /* plaintext of a record destroyed (GDPR) */
	LGFS_OP_NOTE = 0x0503,         /* free-text annotation by a member */
};

/* Argument kinds: fixed-size kinds must have exactly that length. */
enum lgfs_kind {
	LGFS_KIND_U32 = 1,   /* 4 bytes big-endian */
	LGFS_KIND_U64 = 2,   /* 8 bytes big-endian */
	LGFS_KIND_I64 = 3,   /* 8 bytes big-endian two's complement */
	LGFS_KIND_HASH = 4,  /* 32 bytes */
	LGFS_KIND_STR = 5,   /* UTF-8 text, no NUL, 0..LGFS_ARG_MAX_LEN bytes */
	LGFS_KIND_BYTES = 6, /* arbitrary bytes, 0..LGFS_ARG_MAX_LEN */
};

/* Argument field ids; each has one kind (see lgfs_field_kind). */
enum lgfs_field {
	LGFS_F_NAME = 1,        /* BYTES directory entry name / volume name (POSIX names are bytes) */
	LGFS_F_PARENT = 2,      /* U64  parent directory inode */
	LGFS_F_INO = 3,         /* U64  inode the change applies to */
	LGFS_F_MODE = 4,        /* U32  st_mode (type and permission bits) */
	LGFS_F_UID = 5,         /* U32  owner */
	LGFS_F_GID = 6,         /* U32  group */
	LGFS_F_SIZE = 7,        /* U64  file size in bytes */
	LGFS_F_MANIFEST = 8,    /* HASH id of the content manifest */
	LGFS_F_CONTENT = 9,     /* HASH SHA-256 of the whole file content */
	LGFS_F_TARGET = 10,     /* BYTES symlink target */
	LGFS_F_NEW_PARENT = 11, /* U64 */
	LGFS_F_NEW_NAME = 12,   /* BYTES */
	LGFS_F_FLAGS = 13,      /* U32  rename / xattr flags */
	LGFS_F_RDEV = 14,       /* U64  device number */
	LGFS_F_ATIME = 15,      /* I64  ns since the epoch */
	LGFS_F_MTIME = 16,      /* I64  ns since the epoch */
	LGFS_F_XATTR_NAME = 17, /* BYTES */
	LGFS_F_XATTR_VALUE = 18,/* BYTES */
	LGFS_F_KEY = 19,        /* HASH an Ed25519 public key */
	LGFS_F_KEY_NAME = 20,   /* STR  signed-note key name */
	LGFS_F_RIGHTS = 21,     /* U32  rights bit mask */
	LGFS_F_PATH = 22,       /* STR  path (informational for file ops, a prefix for grants) */
	LGFS_F_UNTIL = 23,      /* I64  ns since the epoch */
	LGFS_F_REF = 24,        /* U64  index of a referenced record */
	LGFS_F_VOTE = 25,       /* U32  1 yes, 0 no */
	LGFS_F_REASON = 26,     /* STR */
	LGFS_F_THRESHOLD = 27,  /* U32  percent of members whose yes admits or removes */
	LGFS_F_RETENTION = 28,  /* U64  default retention in seconds */
	LGFS_F_TOKEN = 29,      /* BYTES DER RFC 3161 token */
	LGFS_F_TREE_SIZE = 30,  /* U64  a checkpoint's size */
	LGFS_F_ROOT = 31,       /* HASH a checkpoint's root */
	LGFS_F_CTIME = 32,      /* I64  ns since the epoch */
	LGFS_F_ALLOCATED = 33,  /* U64  content bytes stored (size minus holes) */
	LGFS_F_MAX = 33
};

/* One typed argument. In a decoded record `data` points into the record
 * bytes (borrowed); when building, it points to caller memory that must
 * outlive lgfs_record_encode(). */
struct lgfs_arg {
	uint8_t field;       /* enum lgfs_field */
	uint64_t num;        /* U32/U64/I64 value (I64 as two's complement) */
	const uint8_t *data; /* HASH/STR/BYTES */
	uint32_t len;
};

/* A decoded or to-be-encoded record. */
struct lgfs_record {
	uint8_t salt[LGFS_SALT_LEN];
	uint8_t version;                 /* LGFS_FORMAT_VERSION */
	char origin[LGFS_ORIGIN_MAX + 1];/* empty in the genesis record */
	uint64_t index;
	uint8_t prev[32];                /* SHA-256 of the previous envelope; zero at index 0 */
	uint8_t author[32];              /* Ed25519 public key */
	uint32_t uid, gid;               /* acting identity */
	int64_t time_ns;                 /* wall clock, ns since the epoch */
	uint16_t op;                     /* enum lgfs_op */
	unsigned int nargs;
	struct lgfs_arg args[LGFS_RECORD_MAX_ARGS]; /* ascending field ids */
};

/* The public, fixed-size part. */
struct lgfs_envelope {
	uint8_t version;
	uint64_t index;
	uint8_t prev[32];
	uint8_t author[32];
	int64_t time_ns;
	uint8_t commitment[32];
	uint8_t sig[64];
};

/* Start a record for operation `op` (clears everything). */
void lgfs_record_init(struct lgfs_record *r, uint16_t op);
/* Add arguments; they may come in any order (encode sorts them). LGFS_EINVAL
 * for an unknown field, a wrong kind, a duplicate, or too many. */
int lgfs_record_add_u32(struct lgfs_record *r, uint8_t field, uint32_t v);
int lgfs_record_add_u64(struct lgfs_record *r, uint8_t field, uint64_t v);
int lgfs_record_add_i64(struct lgfs_record *r, uint8_t field, int64_t v);
int lgfs_record_add_bytes(struct lgfs_record *r, uint8_t field, const void *p, size_t len);
int lgfs_record_add_str(struct lgfs_record *r, uint8_t field, const char *s);

/* Find an argument; NULL when absent. Borrowed. */
const struct lgfs_arg *lgfs_record_arg(const struct lgfs_record *r, uint8_t field);
/* Typed getters: LGFS_ENOTFOUND when absent. */
int lgfs_record_get_u64(const struct lgfs_record *r, uint8_t field, uint64_t *out);
int lgfs_record_get_u32(const struct lgfs_record *r, uint8_t field, uint32_t *out);
int lgfs_record_get_i64(const struct lgfs_record *r, uint8_t field, int64_t *out);

/* Canonical encoding (sorts args; checks the operation's argument schema).
 * Appends to out. */
int lgfs_record_encode(struct lgfs_buf *out, struct lgfs_record *r);
/* Strict decoding: LGFS_ECORRUPT for anything that is not the canonical
 * encoding of a valid record (truncated, trailing bytes, unknown op or
 * field, wrong kind length, unsorted or duplicate fields, schema violation,
 * invalid UTF-8). Args point into `p`, which must outlive r. */
int lgfs_record_decode(struct lgfs_record *r, const uint8_t *p, size_t len);

/* SHA-256(LGFS_TAG_COMMITMENT 0x00 || record bytes). */
void lgfs_record_commitment(uint8_t out[32], const uint8_t *rec, size_t len);

void lgfs_envelope_encode(uint8_t out[LGFS_ENVELOPE_LEN], const struct lgfs_envelope *e);
int lgfs_envelope_decode(struct lgfs_envelope *e, const uint8_t *p, size_t len);
/* SHA-256 of the envelope's signed part (its first LGFS_ENVELOPE_SIGNED_LEN
 * bytes, all but the signature): the next record's `prev`. Leaving the
 * signature out of the chain lets a batch be signed on all cores; the
 * signature is still bound by the Merkle leaf, which hashes all 177 bytes. */
void lgfs_envelope_hash(uint8_t out[32], const uint8_t env[LGFS_ENVELOPE_LEN]);
/* The signed message: LGFS_TAG_ENVELOPE 0x00 || u16 origin length || origin
 * || the first LGFS_ENVELOPE_SIGNED_LEN envelope bytes. Appends to out. */
int lgfs_envelope_signed_message(struct lgfs_buf *out, const char *origin,
				 const uint8_t env[LGFS_ENVELOPE_LEN]);

/* Names for people and JSON: "create", "parent", ...; NULL if unknown. */
const char *lgfs_op_name(uint16_t op);
const char *lgfs_field_name(uint8_t field);
/* Kind of a field; 0 for an unknown field. */
int lgfs_field_kind(uint8_t field);
/* 1 for the operations this version writes and applies (file-system
 * operations, notes, retention and legal hold); the others have codes and
 * schemas reserved for later versions. */
int lgfs_op_supported(uint16_t op);
/* Reverse of lgfs_op_name; 0 when unknown. */
uint16_t lgfs_op_from_name(const char *name);

/* Volume origin from its name and the genesis commitment:
 * "ledgerfs/<name>/<first 16 hex digits of the commitment>". */
int lgfs_origin_make(char out[LGFS_ORIGIN_MAX + 1], const char *name, const uint8_t genesis_commitment[32]);

#endif
