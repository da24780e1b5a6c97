/*
 * trust.h — what this user verified before, kept outside every store
 * (ledger layer).
 *
 * Whoever can write a store's files can cut its log back, write another
 * future, or swap in another volume's log, and make every file of the store
 * agree with it. What they cannot change is what the user saw before. Like
 * ssh's known_hosts, the user's own state directory remembers, per volume
 * directory, the origin (identity) of the volume it holds, and per origin the
 * newest checkpoint the user verified. Every later verification then proves
 * that the current log extends that checkpoint (RFC 9162 consistency).
 *
 * Layout under the state directory (directories 0700, files 0600):
 *   trusted/dirs/<hex SHA-256 of the volume directory's realpath>
 *       "ledgerfs trusted directory v1\norigin <origin>\npath <escaped path>\n"
 *   trusted/origins/<hex SHA-256 of the origin>
 *       the signed checkpoint note, verbatim
 *   trusted/lock
 *       serialises concurrent lgfs_trust_save() calls (flock)
 * Files are replaced atomically (temporary file, fsync, rename), so a reader
 * sees the old or the new content, never a mix.
 */
#ifndef LGFS_TRUST_H
#define LGFS_TRUST_H

#include "note.h"

/* $LEDGERFS_STATE_DIR if set and non-empty, else $XDG_STATE_HOME/ledgerfs
 * (when absolute), else $HOME/.local/state/ledgerfs; *out malloc'd.
 * LGFS_ENOTFOUND if none of them is set. */
int lgfs_trust_state_dir(char **out);

/* What this user verified before. */
struct lgfs_trust_pin {
	char origin[LGFS_ORIGIN_MAX + 1]; /* origin pinned for this volume directory; "" if none */
	int have_cp;                      /* a checkpoint of that origin was verified before */
	struct lgfs_checkpoint cp;        /* the newest (largest) one, from any directory */
	char *note;                       /* its signed note text, malloc'd (NULL if none) */
};

/* Load the pin of volume directory `voldir` (keyed by its realpath). If
 * `origin` is non-NULL and the dir has no pin, the checkpoint pinned for
 * `origin` is loaded anyway (pin->origin stays ""). Missing state is not an
 * error (empty pin). A pin file that cannot be parsed is LGFS_ECORRUPT
 * naming the file. *out is always initialised; free it with
 * lgfs_trust_pin_free() (also after an error). */
int lgfs_trust_load(struct lgfs_trust_pin *out, const char *voldir, const char *origin);

/* After a successful verification: pin voldir -> the note's origin
 * (LGFS_ECONFLICT if the dir is pinned to another origin: the caller must not
 * save then), and remember the note as the origin's newest verified
 * checkpoint if it is larger than the one pinned (never lower it; a note of
 * the same size with another root is LGFS_ECONFLICT, nothing is written).
 * The note is parsed, not verified: the caller verified it. */
int lgfs_trust_save(const char *voldir, const char *note);

/* Forget what this user pinned for volume directory `voldir`: its origin
 * and that origin's newest checkpoint. For a volume replaced on purpose (a
 * new volume created under the same name, a backup restored); the next
 * verification pins it afresh. Nothing pinned is not an error. */
int lgfs_trust_forget(const char *voldir);

void lgfs_trust_pin_free(struct lgfs_trust_pin *p);

#endif
