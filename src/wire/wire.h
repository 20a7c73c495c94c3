/* src/wire/wire.h: the peer-link protocol, version 1: link frames (one per binary WebSocket
 * message) and the record that is the plaintext of every Signal message. Pure encoding and
 * strict decoding of untrusted bytes; no networking, no allocation. Specified in
 * docs/PROTOCOL.md, "Peer links v1".
 *
 * Decoding borrows: a decoded frame or record may point into the input (the fields marked
 * "borrowed"), so the input must outlive every use of what was decoded. Encoding writes into
 * a caller buffer of `cap` bytes; wire_*_size() tells how many are needed. Every function
 * here is reentrant and may be called from any thread (the HELLO signing helpers use the
 * Signal context, which stays on its one thread). */
#ifndef SOTTO_WIRE_WIRE_H
#define SOTTO_WIRE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "e2e/e2e.h"
#include "sotto/err.h"

struct reader;

#define WIRE_VERSION_MIN 1 /* protocol versions this code speaks */
#define WIRE_VERSION_MAX 1
#define WIRE_MAGIC       0x01 /* first byte of every v1 frame: the framing version */
#define WIRE_LINK_LABEL  "sotto-link-v1"

#define WIRE_HEADER_LEN       6            /* magic u8 | type u8 | payload length u32 */
#define WIRE_FRAME_MAX        (128 * 1024) /* whole frame, header included */
#define WIRE_PAYLOAD_MAX      (WIRE_FRAME_MAX - WIRE_HEADER_LEN)
#define WIRE_ID_LEN           16           /* message id, group id */
#define WIRE_EXPORTER_LEN     32           /* RFC 9266 tls-exporter value */
#define WIRE_CARD_MAX         4096         /* card body plus signature (CARD_BODY_MAX) */
#define WIRE_CIPHERTEXT_MAX   (120 * 1024) /* a Signal message in a MESSAGE frame */
#define WIRE_IDS_MAX          256          /* ids in one ACK or one read receipt */
#define WIRE_ACK_MAX          WIRE_IDS_MAX
#define WIRE_HELLO_LEN        (3 + E2E_KEY_LEN + E2E_SIG_LEN)           /* HELLO payload: 100 */
#define WIRE_BUNDLE_LEN       (12 + E2E_KEY_LEN + E2E_SIG_LEN)          /* BUNDLE payload: 109 */
#define WIRE_HELLO_SIGNED_LEN (WIRE_EXPORTER_LEN + 1 + E2E_KEY_LEN + 2) /* 68 */

#define WIRE_RECORD_VERSION  1
#define WIRE_RECORD_PAD      160 /* a record is a multiple of this many bytes */
#define WIRE_BODY_MAX        (64 * 1024)
#define WIRE_RECORD_HEAD_MAX (3 + WIRE_ID_LEN + 8 + WIRE_ID_LEN + 4) /* 47 */
/* the longest record: the longest head and body, padded (65600 bytes) */
#define WIRE_RECORD_MAX                                                                            \
    ((WIRE_RECORD_HEAD_MAX + WIRE_BODY_MAX + WIRE_RECORD_PAD - 1) / WIRE_RECORD_PAD *              \
     WIRE_RECORD_PAD)

#define WIRE_REGISTRATION_ID_MAX 16380
#define WIRE_PREKEY_ID_MAX       16777215

enum wire_frame_type {
    WIRE_HELLO = 0x01,          /* the link proof; first frame each way */
    WIRE_CARD = 0x02,           /* the sender's signed identity card */
    WIRE_MESSAGE = 0x10,        /* one Signal message */
    WIRE_ACK = 0x11,            /* the receiver committed these message ids */
    WIRE_REFUSE = 0x12,         /* the receiver will not take this message, and why */
    WIRE_BUNDLE_REQUEST = 0x20, /* asks for the peer's prekey bundle (empty payload) */
    WIRE_BUNDLE = 0x21,         /* the answer: a bundle with no one-time prekey */
};

enum wire_role {
    WIRE_ROLE_DIALER = 0,
    WIRE_ROLE_LISTENER = 1,
};

enum wire_message_kind {
    WIRE_KIND_PREKEY = 1, /* PreKeySignalMessage */
    WIRE_KIND_SIGNAL = 2, /* SignalMessage */
};

/* Reasons of a REFUSE. A reason this code does not know still decodes (a newer peer stays
 * readable): the sender treats it as a permanent failure, "refused by the peer (reason N)". */
enum wire_refuse_reason {
    WIRE_REFUSE_NO_SESSION = 1,     /* no session: re-encrypt under a fresh one */
    WIRE_REFUSE_UNKNOWN_PREKEY = 2, /* the prekey is gone: fetch a new bundle, re-encrypt */
    WIRE_REFUSE_UNTRUSTED = 3,      /* identity not trusted (key change held) */
    WIRE_REFUSE_CANNOT_DECRYPT = 4, /* bad MAC, duplicate counter (-1001), damaged */
    WIRE_REFUSE_IDS_DIFFER = 5,     /* the frame's id is not the record's */
    WIRE_REFUSE_BAD_RECORD = 6,     /* decrypted, but not a valid record: do not resend */
};

enum wire_record_type {
    WIRE_RECORD_TEXT = 1,         /* body: 1..WIRE_BODY_MAX bytes of UTF-8 */
    WIRE_RECORD_RECEIPT = 2,      /* body: u16 count (1..WIRE_IDS_MAX) + count ids, read */
    WIRE_RECORD_FILE_OFFER = 3,   /* reserved; decodes as an unknown type in v1 */
    WIRE_RECORD_GROUP_UPDATE = 4, /* reserved; decodes as an unknown type in v1 */
};

/* A list of message ids: ACK payloads and read-receipt bodies. */
struct wire_ids {
    size_t n; /* 1..WIRE_IDS_MAX */
    uint8_t ids[WIRE_IDS_MAX][WIRE_ID_LEN];
};

struct wire_hello {
    uint8_t version_min, version_max; /* 1 <= min <= max */
    uint8_t role;                     /* enum wire_role */
    uint8_t key[E2E_KEY_LEN];         /* the sender's identity key, e2e_pubkey_check'ed */
    uint8_t sig[E2E_SIG_LEN];         /* see wire_hello_sign() */
};

struct wire_message {
    uint8_t id[WIRE_ID_LEN];
    uint8_t kind;              /* enum wire_message_kind */
    const uint8_t *ciphertext; /* borrowed; 1..WIRE_CIPHERTEXT_MAX bytes */
    size_t ciphertext_len;
};

struct wire_refuse {
    uint8_t id[WIRE_ID_LEN];
    uint8_t reason; /* enum wire_refuse_reason, or a value of a newer peer */
};

struct wire_bundle {
    uint32_t registration_id;           /* 1..WIRE_REGISTRATION_ID_MAX */
    uint32_t device_id;                 /* always 1 */
    uint32_t signed_prekey_id;          /* 1..WIRE_PREKEY_ID_MAX */
    uint8_t signed_prekey[E2E_KEY_LEN]; /* e2e_pubkey_check'ed */
    uint8_t signature[E2E_SIG_LEN];     /* Signal's, by the link's identity key; not checked here */
};

struct wire_frame {
    uint8_t type; /* enum wire_frame_type */
    union {
        struct wire_hello hello;
        struct {
            const uint8_t *bytes; /* borrowed; 1..WIRE_CARD_MAX bytes, opaque here */
            size_t len;
        } card;
        struct wire_message message;
        struct wire_ids ack;
        struct wire_refuse refuse;
        struct wire_bundle bundle;
    };
};

/* True for the frame types of enum wire_frame_type. */
bool wire_frame_type_known(uint8_t type);
/* "HELLO", "ACK", …; "unknown" otherwise. Static; never NULL. */
const char *wire_frame_type_name(uint8_t type);

/* Looks at the start of a frame before it is buffered whole: needs the first WIRE_HEADER_LEN
 * bytes (SOTTO_ETRUNC until then), refuses another magic (SOTTO_EPROTO) and a declared length
 * over the cap (SOTTO_ETOOBIG), and gives the type byte and the whole frame's length. */
enum sotto_err wire_frame_peek(const uint8_t *in, size_t len, uint8_t *type, size_t *frame_len);

/* Decodes exactly one frame: every byte left in `r` (one WebSocket message). Refuses a
 * declared length over the cap before reading the payload (SOTTO_ETOOBIG), a frame cut short
 * (SOTTO_ETRUNC), trailing bytes, a bad field or an unknown type (SOTTO_EPROTO), a bad key
 * (SOTTO_EBADKEY). The card and the ciphertext are borrowed from r's bytes. On success `r` is
 * consumed; on failure nothing is consumed and *out is zeroed except out->type, which keeps
 * the header's type byte once it was read: an SOTTO_EPROTO with
 * !wire_frame_type_known(out->type) is an unknown frame type, which the node, like any frame
 * that does not decode, answers by closing the link with 1002: frame types belong to the
 * negotiated protocol version. Does not check signatures. */
enum sotto_err wire_frame_decode(struct wire_frame *out, struct reader *r);

/* The encoded length of `f`, header included; 0 when `f` breaks a rule decoding enforces. */
size_t wire_frame_size(const struct wire_frame *f);

/* Encodes `f` into out[0..cap): SOTTO_EINVAL when `f` breaks a rule decoding enforces (what
 * encodes always decodes back to `f`), SOTTO_ETOOBIG when cap < wire_frame_size(f). *len is
 * the length written (0 on failure). */
enum sotto_err wire_frame_encode(const struct wire_frame *f, uint8_t *out, size_t cap, size_t *len);

/* The bytes the link proof signs (under the label WIRE_LINK_LABEL, added by e2e_sign):
 * exporter (32) || role || key (33) || version_min || version_max. */
void wire_hello_signed_bytes(const struct wire_hello *hello,
                             const uint8_t exporter[static WIRE_EXPORTER_LEN],
                             uint8_t out[static WIRE_HELLO_SIGNED_LEN]);

/* Signs `hello` (its versions, role and key set by the caller) for the link whose TLS
 * exporter value is `exporter`, writing hello->sig. SOTTO_EINVAL when a field is out of range
 * or `priv` is not the private key of hello->key; then hello->sig is zeroed. Uses `ctx` on
 * its thread. */
enum sotto_err wire_hello_sign(struct e2e_ctx *ctx, const uint8_t priv[static E2E_PRIV_LEN],
                               const uint8_t exporter[static WIRE_EXPORTER_LEN],
                               struct wire_hello *hello);

/* Checks a peer's link proof: its role must be `expected_role` (the opposite of ours) and its
 * signature valid over this link's `exporter`. SOTTO_EBADSIG for a wrong role or signature
 * (a proof made for another link or the other end, e.g. our own HELLO reflected, is no proof
 * for this one), SOTTO_EBADKEY for a bad key, SOTTO_EPROTO for versions out of range. */
enum sotto_err wire_hello_verify(const struct wire_hello *hello,
                                 const uint8_t exporter[static WIRE_EXPORTER_LEN],
                                 uint8_t expected_role);

/* The version a link with this peer uses: the highest in both our range and the peer's.
 * SOTTO_EPROTO (and *version = 0) when there is none. */
enum sotto_err wire_version_pick(const struct wire_hello *peer, uint8_t *version);

/* The record, plaintext of a Signal message. */
struct wire_record {
    uint8_t type; /* enum wire_record_type or unknown: then the body is opaque */
    uint8_t id[WIRE_ID_LEN];
    uint64_t sent_at_ms; /* the sender's clock, ms since the Unix epoch */
    bool has_group;
    uint8_t group_id[WIRE_ID_LEN]; /* meaningful when has_group */
    const uint8_t *body;           /* borrowed; 0..WIRE_BODY_MAX bytes */
    size_t body_len;
    struct wire_ids receipt; /* decode fills it for WIRE_RECORD_RECEIPT; encode ignores it */
};

/* "text", "receipt", …; "unknown" otherwise. Static; never NULL. */
const char *wire_record_type_name(uint8_t type);

/* Decodes exactly one record: every byte left in `r` (a Signal message's plaintext). Refuses
 * more than WIRE_RECORD_MAX bytes or a body over WIRE_BODY_MAX (SOTTO_ETOOBIG, before reading
 * it), a record cut short or padded short of the next multiple of WIRE_RECORD_PAD
 * (SOTTO_ETRUNC), an unknown version, flag bits other than bit 0, a padding byte that is not
 * zero, padding of WIRE_RECORD_PAD bytes or more, a text body that is empty or not UTF-8, and
 * a receipt body that is not a valid id list (SOTTO_EPROTO). A record of an unknown type
 * decodes, its body opaque. The body is borrowed from r's bytes. On failure *out is zeroed and
 * nothing is consumed. */
enum sotto_err wire_record_decode(struct wire_record *out, struct reader *r);

/* The encoded length of `rec`, padding included (a multiple of WIRE_RECORD_PAD); 0 when `rec`
 * breaks a rule decoding enforces. */
size_t wire_record_size(const struct wire_record *rec);

/* Encodes `rec` with its zero padding into out[0..cap): SOTTO_EINVAL when `rec` breaks a rule
 * decoding enforces (a receipt's body must already be a valid id list: see
 * wire_receipt_encode), SOTTO_ETOOBIG when cap < wire_record_size(rec). *len is the length
 * written (0 on failure). */
enum sotto_err wire_record_encode(const struct wire_record *rec, uint8_t *out, size_t cap,
                                  size_t *len);

/* The body of a read receipt: u16 count then the ids. Needs 2 + 16 * ids->n bytes;
 * SOTTO_EINVAL for a count out of 1..WIRE_IDS_MAX, SOTTO_ETOOBIG when cap is short. */
enum sotto_err wire_receipt_encode(const struct wire_ids *ids, uint8_t *out, size_t cap,
                                   size_t *len);

#endif
