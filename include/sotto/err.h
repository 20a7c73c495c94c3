/* include/sotto/err.h: the one error vocabulary of libsotto and its translator. */
#ifndef SOTTO_ERR_H
#define SOTTO_ERR_H

enum sotto_err {
    SOTTO_OK = 0,
    SOTTO_ENOMEM,      /* allocation failed */
    SOTTO_EINVAL,      /* the caller broke the contract */
    SOTTO_ETRUNC,      /* input ended before the field did */
    SOTTO_ETOOBIG,     /* declared size above our cap */
    SOTTO_EPROTO,      /* well-formed bytes, wrong meaning */
    SOTTO_EIO,         /* a system call failed; errno kept by the caller's context */
    SOTTO_ECRYPTO,     /* a cryptographic library call failed */
    SOTTO_EBADSIG,     /* a signature did not verify */
    SOTTO_EBADKEY,     /* a public key is malformed or of small order */
    SOTTO_ENUMBER,     /* a 15-digit number does not belong to its key */
    SOTTO_EEXIST,      /* the thing to create already exists */
    SOTTO_ENOENT,      /* the thing asked for does not exist */
    SOTTO_EAMBIG,      /* more than one thing matched */
    SOTTO_EPASS,       /* wrong passphrase */
    SOTTO_ENOPASS,     /* a passphrase is needed and none could be read */
    SOTTO_ENOTPROFILE, /* the database is not a Sotto profile */
    SOTTO_ECORRUPT,    /* the database or a stored secret is damaged */
    SOTTO_ENEWER,      /* the profile was written by a newer Sotto */
    SOTTO_EPERM,       /* the profile is readable or writable by others */
    SOTTO_EDB,         /* the database failed otherwise (full disk, locked, I/O) */
    SOTTO_EKEYCHANGED, /* a contact's identity key differs from the stored one */
    SOTTO_ECANCELED,   /* the user declined */
    SOTTO_EMISMATCH,   /* a scanned safety number does not match */
    SOTTO_ENET,        /* a server or peer could not be reached, or timed out */
    SOTTO_EPIN,        /* a server's certificate is not the pinned one */
    SOTTO_ERATE,       /* rate limited: try again later */
    SOTTO_EREFUSED,    /* a server understood the request and refused it */
    SOTTO_ENOSESSION,  /* there is no Signal session with that peer */
    SOTTO_ENOPREKEY,   /* a message names a prekey we do not have (used, or never made) */
    SOTTO_EUNTRUSTED,  /* a peer's identity key is not one we trust for it */
    SOTTO_EDUPLICATE,  /* the message was decrypted before */
    SOTTO_EBADMSG,     /* a message does not parse, authenticate or decrypt */
    SOTTO_ERR_COUNT    /* keep last */
};

/* Returns a short English description of `e`; never NULL, "unknown error" when out of range.
 * The string is static. Thread-safe. */
const char *sotto_strerror(enum sotto_err e);

/* Returns the enumerator's name ("SOTTO_ETRUNC") for logs and --json; never NULL. */
const char *sotto_errname(enum sotto_err e);

#endif
