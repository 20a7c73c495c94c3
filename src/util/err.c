/* src/util/err.c: sotto_strerror and sotto_errname. */
#include <stddef.h>

#include "sotto/err.h"

static const char *const err_text[SOTTO_ERR_COUNT] = {
        [SOTTO_OK] = "success",
        [SOTTO_ENOMEM] = "out of memory",
        [SOTTO_EINVAL] = "invalid argument",
        [SOTTO_ETRUNC] = "input ended early",
        [SOTTO_ETOOBIG] = "input larger than allowed",
        [SOTTO_EPROTO] = "malformed input",
        [SOTTO_EIO] = "input/output error",
        [SOTTO_ECRYPTO] = "cryptographic operation failed",
        [SOTTO_EBADSIG] = "signature is not valid",
        [SOTTO_EBADKEY] = "public key is not valid",
        [SOTTO_ENUMBER] = "number does not belong to the identity key",
        [SOTTO_EEXIST] = "already exists",
        [SOTTO_ENOENT] = "not found",
        [SOTTO_EAMBIG] = "more than one match",
        [SOTTO_EPASS] = "wrong passphrase",
        [SOTTO_ENOPASS] = "passphrase needed",
        [SOTTO_ENOTPROFILE] = "not a Sotto profile",
        [SOTTO_ECORRUPT] = "profile database is damaged",
        [SOTTO_ENEWER] = "profile was made by a newer version of Sotto",
        [SOTTO_EPERM] = "profile is accessible by other users",
        [SOTTO_EDB] = "database error",
        [SOTTO_EKEYCHANGED] = "contact's identity key has changed",
        [SOTTO_ECANCELED] = "canceled",
        [SOTTO_EMISMATCH] = "safety numbers do not match",
        [SOTTO_ENET] = "could not reach the server",
        [SOTTO_EPIN] = "the server's certificate is not the pinned one",
        [SOTTO_ERATE] = "too many requests; try again later",
        [SOTTO_EREFUSED] = "the server refused the request",
        [SOTTO_ENOSESSION] = "no encrypted session with that contact",
        [SOTTO_ENOPREKEY] = "the message names an unknown prekey",
        [SOTTO_EUNTRUSTED] = "the identity key is not trusted",
        [SOTTO_EDUPLICATE] = "the message was already received",
        [SOTTO_EBADMSG] = "the message could not be decrypted",
};

static const char *const err_name[SOTTO_ERR_COUNT] = {
        [SOTTO_OK] = "SOTTO_OK",
        [SOTTO_ENOMEM] = "SOTTO_ENOMEM",
        [SOTTO_EINVAL] = "SOTTO_EINVAL",
        [SOTTO_ETRUNC] = "SOTTO_ETRUNC",
        [SOTTO_ETOOBIG] = "SOTTO_ETOOBIG",
        [SOTTO_EPROTO] = "SOTTO_EPROTO",
        [SOTTO_EIO] = "SOTTO_EIO",
        [SOTTO_ECRYPTO] = "SOTTO_ECRYPTO",
        [SOTTO_EBADSIG] = "SOTTO_EBADSIG",
        [SOTTO_EBADKEY] = "SOTTO_EBADKEY",
        [SOTTO_ENUMBER] = "SOTTO_ENUMBER",
        [SOTTO_EEXIST] = "SOTTO_EEXIST",
        [SOTTO_ENOENT] = "SOTTO_ENOENT",
        [SOTTO_EAMBIG] = "SOTTO_EAMBIG",
        [SOTTO_EPASS] = "SOTTO_EPASS",
        [SOTTO_ENOPASS] = "SOTTO_ENOPASS",
        [SOTTO_ENOTPROFILE] = "SOTTO_ENOTPROFILE",
        [SOTTO_ECORRUPT] = "SOTTO_ECORRUPT",
        [SOTTO_ENEWER] = "SOTTO_ENEWER",
        [SOTTO_EPERM] = "SOTTO_EPERM",
        [SOTTO_EDB] = "SOTTO_EDB",
        [SOTTO_EKEYCHANGED] = "SOTTO_EKEYCHANGED",
        [SOTTO_ECANCELED] = "SOTTO_ECANCELED",
        [SOTTO_EMISMATCH] = "SOTTO_EMISMATCH",
        [SOTTO_ENET] = "SOTTO_ENET",
        [SOTTO_EPIN] = "SOTTO_EPIN",
        [SOTTO_ERATE] = "SOTTO_ERATE",
        [SOTTO_EREFUSED] = "SOTTO_EREFUSED",
        [SOTTO_ENOSESSION] = "SOTTO_ENOSESSION",
        [SOTTO_ENOPREKEY] = "SOTTO_ENOPREKEY",
        [SOTTO_EUNTRUSTED] = "SOTTO_EUNTRUSTED",
        [SOTTO_EDUPLICATE] = "SOTTO_EDUPLICATE",
        [SOTTO_EBADMSG] = "SOTTO_EBADMSG",
};

const char *sotto_strerror(enum sotto_err e)
{
    if ((unsigned)e >= SOTTO_ERR_COUNT || err_text[e] == NULL)
        return "unknown error";
    return err_text[e];
}

const char *sotto_errname(enum sotto_err e)
{
    if ((unsigned)e >= SOTTO_ERR_COUNT || err_name[e] == NULL)
        return "SOTTO_E_UNKNOWN";
    return err_name[e];
}
