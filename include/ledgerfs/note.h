/*
 * note.h — C2SP signed notes, tlog checkpoints and cosignatures (ledger layer).
 *
 * signed-note: "<text ending in \n>\n" then lines "— <name> <base64(keyid||sig)>\n"
 * (U+2014 EM DASH, space). Ed25519 over the text (with its final newline).
 * tlog-checkpoint text: "<origin>\n<size decimal>\n<base64 root>\n" [extension lines].
 * tlog-cosignature/v1: Ed25519 over "cosignature/v1\ntime <secs>\n" || text,
 * payload keyid(type 0x04)||u64 BE time||sig.
 */
#ifndef LGFS_NOTE_H
#define LGFS_NOTE_H

#include <stddef.h>
#include <stdint.h>

struct lgfs_key;

#define LGFS_NOTE_MAX 65536     /* notes longer than this are rejected */
#define LGFS_NOTE_MAX_SIGS 100  /* more signature lines are rejected */
#define LGFS_ORIGIN_MAX 255

struct lgfs_note_sig {
	char name[64 + 1];
	uint32_t key_id;       /* first 4 bytes of the payload */
	uint8_t payload[128];  /* the decoded base64 after the key id */
	size_t payload_len;
};

struct lgfs_note {
	char *text;                 /* owned: the signed text including its final \n, NUL-terminated */
	size_t text_len;
	struct lgfs_note_sig *sigs; /* owned */
	size_t nsigs;
};

/* Parse a signed note strictly (UTF-8 text, text ends in \n, one empty line,
 * at least one well-formed signature line, final \n). Also refused: control
 * characters other than \n, an empty line inside the text, signature names
 * over 64 bytes or with '+' or Unicode spaces, non-canonical base64,
 * payloads over 128 bytes. LGFS_EINVAL on any of these. *out owned by caller. */
int lgfs_note_parse(struct lgfs_note **out, const char *note, size_t len);
void lgfs_note_free(struct lgfs_note *n);

/* Sign text (must end in '\n', must not contain an empty line or NUL) with
 * Ed25519: *out = text "\n" "— name base64\n", malloc'd NUL-terminated. */
int lgfs_note_sign(char **out, const char *text, size_t len, const struct lgfs_key *k);
/* Append one more Ed25519 signature line by k to an existing signed note
 * (a previous line by k, same name and key id, is replaced). */
int lgfs_note_add_signature(char **out, const char *note, size_t len, const struct lgfs_key *k);

/* Check signatures by the given keys. 0 if at least one line by a known key
 * (name and key id match) verifies and no line by a known key fails;
 * LGFS_EBADSIG if a known key's line fails; LGFS_ENOTFOUND if no line is by
 * a known key. *who (may be NULL) gets the first key that verified. */
int lgfs_note_verify(const struct lgfs_note *n, struct lgfs_key *const *keys, size_t nkeys,
		     const struct lgfs_key **who) __attribute__((warn_unused_result));

struct lgfs_checkpoint {
	char origin[LGFS_ORIGIN_MAX + 1];
	uint64_t size;
	uint8_t root[32];
};

/* Checkpoint note text (no signatures); *out malloc'd. */
int lgfs_checkpoint_text(char **out, const struct lgfs_checkpoint *cp);
/* Parse checkpoint text (extension lines allowed and ignored). */
int lgfs_checkpoint_parse(struct lgfs_checkpoint *out, const char *text, size_t len);
/* Text + signature by k: a complete signed checkpoint note. */
int lgfs_checkpoint_sign(char **out, const struct lgfs_checkpoint *cp, const struct lgfs_key *k);

/* Cosignature line (tlog-cosignature/v1) by k over the note text at unix time
 * `timestamp`: *out = "— name base64(keyid||time||sig)\n", malloc'd. */
int lgfs_cosignature_line(char **out, const char *text, size_t len, uint64_t timestamp,
			  const struct lgfs_key *k);
/* Verify a parsed cosignature line (key id with type 0x04) against k;
 * *timestamp (may be NULL) gets its time. LGFS_ENOTFOUND if the line is not
 * k's cosignature (name or type-0x04 key id differ), LGFS_EBADSIG if it is
 * but is malformed or does not verify. */
int lgfs_cosignature_verify(const struct lgfs_note *n, const struct lgfs_note_sig *sig,
			    const struct lgfs_key *k, uint64_t *timestamp)
	__attribute__((warn_unused_result));

#endif
