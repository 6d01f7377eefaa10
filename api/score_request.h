/* Parsing of POST /score bodies (single and {"batch": [...]}) into decoded
 * float vectors, fast: the vector-bearing bodies are large (80-170 KB), so
 * this uses api/json_reader (a pull parser over core/float_parse) rather
 * than building a jansson tree. Unknown fields are ignored. */
#ifndef MICRORM_API_SCORE_REQUEST_H
#define MICRORM_API_SCORE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "api/errors.h"

typedef struct {
    char *user;          /* NULL when absent */
    char *event;         /* caller-chosen event id, NULL when absent */
    float *context;      /* [dc] */
    float *responses;    /* [n * d], row-major */
    int n;
    int (*pairs)[2];     /* indices into responses, validated < n and i != j */
    int n_pairs;
    bool include_heads;
} mr_score_req;

typedef struct {
    mr_score_req *items;
    int n;
    bool is_batch;       /* body was {"batch": [...]} */
} mr_score_body;

typedef struct {
    int d, dc;           /* the model's dimensions */
    int max_responses;   /* per request (422 beyond) */
    int max_batch;       /* items in a batch (422 beyond) */
    int max_pairs;       /* per request (422 beyond) */
} mr_score_limits;

/* Parse body[0..len). On failure fills err (400 for malformed JSON, wrong
 * types, dimensions, non-finite numbers, bad base64; 422 for empty or too
 * many responses/items, bad pair indices) naming the field, e.g.
 * "batch[3].responses[2]: expected 3072 values, got 3071", and leaves *out
 * empty. "dtype" ("float32" | "bfloat16" | "float16") applies to the base64
 * vectors of its request; in a batch, an item's dtype overrides the outer.
 *
 * Details of the contract (tests/unit/test_score_request.c checks each):
 * - JSON: what jansson 2.14 accepts with JSON_REJECT_DUPLICATES |
 *   JSON_DECODE_INT_AS_REAL (see api/json_reader.h), an object at the top,
 *   nesting <= 64. Unknown fields are skipped but must be valid JSON. An
 *   explicit null is the same as an absent field.
 * - Errors, as status code (field):
 *   400 bad_json            malformed JSON anywhere, duplicate key, nesting too
 *                           deep, number beyond the double range; message
 *                           "FIELD: invalid JSON at byte N: what"
 *   400 bad_type            wrong JSON type (field of its own path, e.g.
 *                           "responses[0][4]" for a string among numbers,
 *                           "pairs[1]" for a non-pair); the body not an object
 *   400 missing_field       "context" or "responses" absent ("batch[2].context")
 *   400 dimension_mismatch  a vector of the wrong length, also base64 whose
 *                           byte count is not a multiple of the dtype size
 *   400 non_finite          a number array value beyond float32 ("value 5 is
 *                           out of the float32 range"), NaN/Inf in base64
 *   400 bad_base64          bad character / padding / length
 *   400 bad_dtype           unknown dtype string
 *   400 bad_value           "user" not 1..256 bytes, "event" not 1..128 bytes;
 *                           top-level context/responses/pairs/user/event/
 *                           include_heads beside "batch"; a batch in a batch item
 *   422 empty               "responses": [] or "batch": []
 *   422 too_many            more than max_responses / max_batch / max_pairs
 *                           (field: the first one too many, "responses[8]")
 *   422 bad_pair            index out of 0..n-1, or i == j ("pairs[3]")
 *   500 internal            out of memory
 * - Pair indices are JSON integers (no fraction, no exponent).
 * - Base64 vectors are decoded after the whole body is read (dtype may come
 *   last), so a JSON error anywhere is reported before a base64 error. */
int mr_parse_score_body(const char *body, size_t len, const mr_score_limits *lim,
                        mr_score_body *out, api_error *err);
void mr_score_body_free(mr_score_body *b);

#endif
