/*  jsonl.c - directory records as JSON Lines.

    A line is parsed in two steps. First the flat object is read into
    slices (strings decoded into a scratch buffer, integers, arrays of
    strings) with the syntax checked; then the fields are checked against
    the table and copied into one allocation that holds the whole op, so
    that a million-line import costs one malloc per line. The record rules
    themselves (checksums, dates, lengths) are kp_directory_op_check's, so
    a file and the network are held to the same rules.
*/
#include "jsonl.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "json.h"

typedef enum {
    F_TABLE,
    F_OP,
    F_ID,
    F_INSZ,
    F_KBO,
    F_NAME,
    F_SECTOR,
    F_TYPE,
    F_CAPACITY,
    F_MESSAGE,
    F_MESSAGES,
    F_FRAMEWORK,
    F_FROM,
    F_TO,
    F_REASON,
    F_KEY,
    F_KIND,
    F_IDENTITY,
    F_NUMBER,
    F_GIVEN_NAMES,
    F_BIRTH_DATE,
    F_GENDER,
    F_NATIONALITY,
    F_ADDRESS,
    F_DEATH_DATE,
    F_REPLACED_BY,
    F_CHANGED_BY,
    F_CHANGED_ON,
    F_COUNT
} s_field_t;

static const char *s_field_names[F_COUNT] = {
    "table",  "op",          "id",      "insz",       "kbo",         "name",        "sector",
    "type",   "capacity",    "message", "messages",   "framework",   "from",        "to",
    "reason", "key",         "kind",    "identity",   "number",      "given_names", "birth_date",
    "gender", "nationality", "address", "death_date", "replaced_by", "changed_by",  "changed_on",
};

typedef enum { V_NONE, V_STRING, V_NUMBER, V_ARRAY } s_kind_t;

static const char *s_kind_names[] = {"nothing", "a string", "a number", "an array of strings"};

typedef struct {
    size_t off, len; //  in the scratch buffer
} s_slice_t;

typedef struct {
    s_kind_t kind;
    s_slice_t text;
    uint64_t number;
    size_t first, count; //  items of an array
} s_value_t;

typedef struct {
    const char *p, *start, *end;
    char *scratch;
    size_t used;
    s_value_t values[F_COUNT];
    s_slice_t items[KP_DIR_MAX_USER_MESSAGES];
    size_t item_count;
    char *err;
    size_t errlen;
} s_parser_t;

//  Tables, the fields each allows and the kind each field must have.
typedef struct {
    const char *name;
    Kp__DirectoryRecord__RecordCase record_case;
    s_kind_t kinds[F_COUNT];
} s_table_t;

#define S_COMMON [F_TABLE] = V_STRING, [F_OP] = V_STRING
static const s_table_t s_tables[] = {
    {"institution",
     KP__DIRECTORY_RECORD__RECORD_INSTITUTION,
     {S_COMMON, [F_KBO] = V_STRING, [F_NAME] = V_STRING, [F_SECTOR] = V_NUMBER,
      [F_TYPE] = V_NUMBER}},
    {"user",
     KP__DIRECTORY_RECORD__RECORD_USER,
     {S_COMMON, [F_ID] = V_STRING, [F_KBO] = V_STRING, [F_SECTOR] = V_NUMBER, [F_TYPE] = V_NUMBER,
      [F_MESSAGES] = V_ARRAY}},
    {"authorization",
     KP__DIRECTORY_RECORD__RECORD_AUTHORIZATION,
     {S_COMMON, [F_SECTOR] = V_NUMBER, [F_TYPE] = V_NUMBER, [F_CAPACITY] = V_NUMBER,
      [F_MESSAGE] = V_STRING}},
    {"legal",
     KP__DIRECTORY_RECORD__RECORD_LEGAL,
     {S_COMMON, [F_KBO] = V_STRING, [F_SECTOR] = V_NUMBER, [F_TYPE] = V_NUMBER,
      [F_FRAMEWORK] = V_STRING, [F_MESSAGE] = V_STRING}},
    {"availability",
     KP__DIRECTORY_RECORD__RECORD_AVAILABILITY,
     {S_COMMON, [F_MESSAGE] = V_STRING, [F_SECTOR] = V_NUMBER, [F_TYPE] = V_NUMBER}},
    {"person",
     KP__DIRECTORY_RECORD__RECORD_PERSON,
     {S_COMMON, [F_INSZ] = V_STRING, [F_KBO] = V_STRING, [F_SECTOR] = V_NUMBER, [F_TYPE] = V_NUMBER,
      [F_CAPACITY] = V_NUMBER, [F_FROM] = V_STRING, [F_TO] = V_STRING}},
    {"maintenance",
     KP__DIRECTORY_RECORD__RECORD_MAINTENANCE,
     {S_COMMON, [F_ID] = V_NUMBER, [F_KBO] = V_STRING, [F_MESSAGE] = V_STRING, [F_FROM] = V_STRING,
      [F_TO] = V_STRING, [F_REASON] = V_STRING}},
    {"key",
     KP__DIRECTORY_RECORD__RECORD_KEY,
     {S_COMMON, [F_KEY] = V_STRING, [F_KIND] = V_STRING, [F_IDENTITY] = V_STRING,
      [F_FROM] = V_STRING, [F_TO] = V_STRING}},
    {"register",
     KP__DIRECTORY_RECORD__RECORD_REGISTER_ENTRY,
     {S_COMMON, [F_NUMBER] = V_STRING, [F_NAME] = V_STRING, [F_GIVEN_NAMES] = V_STRING,
      [F_BIRTH_DATE] = V_STRING, [F_GENDER] = V_STRING, [F_NATIONALITY] = V_STRING,
      [F_ADDRESS] = V_STRING, [F_DEATH_DATE] = V_STRING, [F_REPLACED_BY] = V_STRING,
      [F_CHANGED_BY] = V_STRING, [F_CHANGED_ON] = V_STRING}},
};
#define S_TABLE_COUNT (sizeof s_tables / sizeof s_tables[0])

static int s_fail(s_parser_t *self, const char *format, ...) __attribute__((format(printf, 2, 3)));

static int s_fail(s_parser_t *self, const char *format, ...)
{
    if (self->err && self->errlen) {
        va_list args;
        va_start(args, format);
        vsnprintf(self->err, self->errlen, format, args);
        va_end(args);
    }
    return -1;
}

//  Names the character at p for an error, printable or as a code.
static int s_unexpected(s_parser_t *self, const char *wanted)
{
    if (self->p >= self->end)
        return s_fail(self, "truncated line: expected %s", wanted);
    unsigned char c = (unsigned char)*self->p;
    size_t column = (size_t)(self->p - self->start) + 1;
    if (c > 0x20 && c < 0x7F)
        return s_fail(self, "unexpected '%c' at column %zu, expected %s", c, column, wanted);
    return s_fail(self, "unexpected byte 0x%02X at column %zu, expected %s", c, column, wanted);
}

static void s_skip_ws(s_parser_t *self)
{
    while (self->p < self->end &&
           (*self->p == ' ' || *self->p == '\t' || *self->p == '\r' || *self->p == '\n'))
        self->p++;
}

static int s_hex4(s_parser_t *self, unsigned *out)
{
    if (self->end - self->p < 4)
        return s_fail(self, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *self->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return s_fail(self, "bad \\u escape at column %zu", (size_t)(self->p - self->start));
    }
    *out = v;
    return 0;
}

static void s_emit_utf8(s_parser_t *self, unsigned cp)
{
    unsigned char *o = (unsigned char *)self->scratch + self->used;
    int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    static const unsigned char lead[] = {0, 0x00, 0xC0, 0xE0, 0xF0};
    for (int i = n - 1; i > 0; i--, cp >>= 6)
        o[i] = (unsigned char)(0x80 | (cp & 0x3F));
    o[0] = (unsigned char)(lead[n] | cp);
    self->used += (size_t)n;
}

//  \uXXXX, with a surrogate pair when it takes two. The UTF-8 it yields
//  is never longer than the escape it replaces, so scratch suffices.
static int s_unicode_escape(s_parser_t *self)
{
    unsigned cp;
    if (s_hex4(self, &cp))
        return -1;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return s_fail(self, "lone low surrogate \\u%04X in string", cp);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned low;
        if (self->end - self->p < 2 || self->p[0] != '\\' || self->p[1] != 'u')
            return s_fail(self, "high surrogate \\u%04X without its low half", cp);
        self->p += 2;
        if (s_hex4(self, &low))
            return -1;
        if (low < 0xDC00 || low > 0xDFFF)
            return s_fail(self, "high surrogate \\u%04X without its low half", cp);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    if (cp == 0)
        return s_fail(self, "NUL character (\\u0000) in string");
    s_emit_utf8(self, cp);
    return 0;
}

//  Reads a string at p (which is at the opening quote) into scratch.
static int s_string(s_parser_t *self, s_slice_t *out)
{
    self->p++;
    out->off = self->used;
    while (true) {
        //  Copy the plain run in one go: most strings have no escapes.
        const char *run = self->p;
        while (self->p < self->end && *self->p != '"' && *self->p != '\\' &&
               (unsigned char)*self->p >= 0x20)
            self->p++;
        memcpy(self->scratch + self->used, run, (size_t)(self->p - run));
        self->used += (size_t)(self->p - run);
        if (self->p >= self->end)
            return s_fail(self, "truncated line: unterminated string");
        char c = *self->p++;
        if (c == '"')
            break;
        if (c != '\\')
            return s_fail(self, "control character 0x%02X in string at column %zu",
                          (unsigned char)c, (size_t)(self->p - self->start));
        if (self->p >= self->end)
            return s_fail(self, "truncated line: unterminated string");
        char e = *self->p++;
        const char *plain = strchr("\"\\/bfnrt", e);
        if (e == 'u') {
            if (s_unicode_escape(self))
                return -1;
        } else if (e && plain)
            self->scratch[self->used++] = "\"\\/\b\f\n\r\t"[plain - "\"\\/bfnrt"];
        else
            return s_fail(self, "bad escape '\\%c' in string at column %zu",
                          e > 0x20 && e < 0x7F ? e : '?', (size_t)(self->p - self->start) - 1);
    }
    out->len = self->used - out->off;
    self->scratch[self->used++] = '\0';
    return 0;
}

static int s_number(s_parser_t *self, const char *field, uint64_t *out)
{
    if (*self->p == '-')
        return s_fail(self, "field '%s' must not be negative", field);
    const char *digits = self->p;
    uint64_t v = 0;
    while (self->p < self->end && *self->p >= '0' && *self->p <= '9') {
        unsigned d = (unsigned)(*self->p++ - '0');
        if (v > (UINT64_MAX - d) / 10)
            return s_fail(self, "field '%s' is too large", field);
        v = v * 10 + d;
    }
    if (self->p - digits > 1 && *digits == '0')
        return s_fail(self, "field '%s': leading zeros are not JSON", field);
    if (self->p < self->end && (*self->p == '.' || *self->p == 'e' || *self->p == 'E'))
        return s_fail(self, "field '%s' must be a whole number", field);
    *out = v;
    return 0;
}

static int s_array(s_parser_t *self, const char *field, s_value_t *value)
{
    self->p++;
    value->first = self->item_count;
    value->count = 0;
    s_skip_ws(self);
    if (self->p < self->end && *self->p == ']') {
        self->p++;
        return 0;
    }
    while (true) {
        s_skip_ws(self);
        if (self->p >= self->end)
            return s_fail(self, "truncated line: unterminated array '%s'", field);
        if (*self->p != '"')
            return s_fail(self, "field '%s' must be an array of strings", field);
        if (self->item_count >= KP_DIR_MAX_USER_MESSAGES)
            return s_fail(self, "field '%s' has too many items (at most %d)", field,
                          KP_DIR_MAX_USER_MESSAGES);
        if (s_string(self, &self->items[self->item_count++]))
            return -1;
        value->count++;
        s_skip_ws(self);
        if (self->p < self->end && *self->p == ',') {
            self->p++;
            continue;
        }
        if (self->p < self->end && *self->p == ']') {
            self->p++;
            return 0;
        }
        return s_unexpected(self, "',' or ']' in array");
    }
}

static int s_field_lookup(const char *name, size_t len)
{
    for (int i = 0; i < F_COUNT; i++)
        if (strlen(s_field_names[i]) == len && !memcmp(s_field_names[i], name, len))
            return i;
    return -1;
}

static int s_value(s_parser_t *self, int field)
{
    s_value_t *value = &self->values[field];
    const char *name = s_field_names[field];
    if (self->p >= self->end)
        return s_fail(self, "truncated line: missing value of '%s'", name);
    char c = *self->p;
    if (c == '"') {
        value->kind = V_STRING;
        return s_string(self, &value->text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        value->kind = V_NUMBER;
        return s_number(self, name, &value->number);
    }
    if (c == '[') {
        value->kind = V_ARRAY;
        return s_array(self, name, value);
    }
    if (c == '{')
        return s_fail(self, "field '%s': nested objects are not allowed", name);
    return s_unexpected(self, "a string, a number or an array");
}

//  The object: '{' "key": value, ... '}' and nothing after it.
static int s_object(s_parser_t *self)
{
    s_skip_ws(self);
    if (self->p >= self->end)
        return s_fail(self, "empty line");
    if (*self->p != '{')
        return s_unexpected(self, "'{' (one JSON object per line)");
    self->p++;
    s_skip_ws(self);
    if (self->p < self->end && *self->p == '}')
        return s_fail(self, "empty object: missing field 'table'");
    while (true) {
        s_skip_ws(self);
        if (self->p >= self->end || *self->p != '"')
            return s_unexpected(self, "a field name in quotes");
        s_slice_t key;
        size_t mark = self->used;
        if (s_string(self, &key))
            return -1;
        self->used = mark; //  keys need no room once looked up
        int field = s_field_lookup(self->scratch + key.off, key.len);
        if (field < 0)
            return s_fail(self, "unknown field '%.40s'", self->scratch + key.off);
        if (self->values[field].kind != V_NONE)
            return s_fail(self, "duplicate field '%s'", s_field_names[field]);
        s_skip_ws(self);
        if (self->p >= self->end || *self->p != ':')
            return s_unexpected(self, "':' after a field name");
        self->p++;
        s_skip_ws(self);
        if (s_value(self, field))
            return -1;
        s_skip_ws(self);
        if (self->p < self->end && *self->p == ',') {
            self->p++;
            continue;
        }
        if (self->p < self->end && *self->p == '}') {
            self->p++;
            break;
        }
        return s_unexpected(self, "',' or '}'");
    }
    s_skip_ws(self);
    if (self->p < self->end)
        return s_fail(self, "trailing characters after the object at column %zu",
                      (size_t)(self->p - self->start) + 1);
    return 0;
}

static const char *s_str(s_parser_t *self, int field)
{
    return self->scratch + self->values[field].text.off;
}

static const s_table_t *s_table_of(s_parser_t *self)
{
    if (self->values[F_TABLE].kind == V_NONE) {
        s_fail(self, "missing field 'table'");
        return NULL;
    }
    if (self->values[F_TABLE].kind != V_STRING) {
        s_fail(self, "field 'table' must be a string");
        return NULL;
    }
    for (size_t i = 0; i < S_TABLE_COUNT; i++)
        if (!strcmp(s_tables[i].name, s_str(self, F_TABLE)))
            return &s_tables[i];
    s_fail(self,
           "unknown table '%.40s' (institution, user, authorization, legal, availability, "
           "person, maintenance, key or register)",
           s_str(self, F_TABLE));
    return NULL;
}

//  Every field present belongs to the table and has the kind it needs.
static int s_fields_fit(s_parser_t *self, const s_table_t *table)
{
    for (int f = 0; f < F_COUNT; f++) {
        s_kind_t have = self->values[f].kind, want = table->kinds[f];
        if (have == V_NONE)
            continue;
        if (want == V_NONE)
            return s_fail(self, "field '%s' does not belong to table '%s'", s_field_names[f],
                          table->name);
        if (have != want)
            return s_fail(self, "field '%s' must be %s", s_field_names[f], s_kind_names[want]);
        if ((f == F_SECTOR || f == F_TYPE || f == F_CAPACITY) &&
            self->values[f].number > KP_DIR_MAX_CODE)
            return s_fail(self, "field '%s' out of range (0-%d)", s_field_names[f],
                          KP_DIR_MAX_CODE);
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Building the op in one block: structs, then the array of message
//  pointers, then the strings.

typedef union {
    Kp__Institution institution;
    Kp__User user;
    Kp__Authorization authorization;
    Kp__LegalAuthorization legal;
    Kp__Availability availability;
    Kp__PersonEntry person;
    Kp__Maintenance maintenance;
    Kp__Key key;
    Kp__RegisterEntry register_entry;
} s_any_t;

typedef struct {
    Kp__DirectoryOp op;
    Kp__DirectoryRecord record;
    s_any_t body;
    char *items[]; //  then the strings
} s_block_t;

typedef struct {
    s_parser_t *parser;
    char *next;
} s_copier_t;

static char *s_copy(s_copier_t *c, int field)
{
    s_parser_t *p = c->parser;
    if (p->values[field].kind != V_STRING)
        return NULL;
    s_slice_t slice = p->values[field].text;
    char *out = c->next;
    memcpy(out, p->scratch + slice.off, slice.len + 1);
    c->next += slice.len + 1;
    return out;
}

//  Sets *has and returns the number of a numeric field.
static uint32_t s_num(s_parser_t *p, int field, protobuf_c_boolean *has)
{
    *has = p->values[field].kind == V_NUMBER;
    return *has ? (uint32_t)p->values[field].number : 0;
}

//  Copies the parsed fields of a line into the op's block for its table.
static void s_fill(s_parser_t *p, const s_table_t *table, s_block_t *b, s_copier_t *c)
{
    Kp__DirectoryRecord *r = &b->record;
    r->record_case = table->record_case;
    s_any_t *any = &b->body;
    switch (table->record_case) {
    case KP__DIRECTORY_RECORD__RECORD_INSTITUTION:
        kp__institution__init(&any->institution);
        r->institution = &any->institution;
        any->institution.kbo = s_copy(c, F_KBO);
        any->institution.name = s_copy(c, F_NAME);
        any->institution.sector = s_num(p, F_SECTOR, &any->institution.has_sector);
        any->institution.type = s_num(p, F_TYPE, &any->institution.has_type);
        break;
    case KP__DIRECTORY_RECORD__RECORD_USER:
        kp__user__init(&any->user);
        r->user = &any->user;
        any->user.id = s_copy(c, F_ID);
        any->user.kbo = s_copy(c, F_KBO);
        any->user.sector = s_num(p, F_SECTOR, &any->user.has_sector);
        any->user.type = s_num(p, F_TYPE, &any->user.has_type);
        if (p->values[F_MESSAGES].kind == V_ARRAY) {
            any->user.messages = b->items;
            for (size_t i = 0; i < p->values[F_MESSAGES].count; i++) {
                s_slice_t slice = p->items[p->values[F_MESSAGES].first + i];
                b->items[i] = c->next;
                memcpy(c->next, p->scratch + slice.off, slice.len + 1);
                c->next += slice.len + 1;
            }
            any->user.n_messages = p->values[F_MESSAGES].count;
        }
        break;
    case KP__DIRECTORY_RECORD__RECORD_AUTHORIZATION:
        kp__authorization__init(&any->authorization);
        r->authorization = &any->authorization;
        any->authorization.sector = s_num(p, F_SECTOR, &any->authorization.has_sector);
        any->authorization.type = s_num(p, F_TYPE, &any->authorization.has_type);
        any->authorization.capacity = s_num(p, F_CAPACITY, &any->authorization.has_capacity);
        any->authorization.message = s_copy(c, F_MESSAGE);
        break;
    case KP__DIRECTORY_RECORD__RECORD_LEGAL:
        kp__legal_authorization__init(&any->legal);
        r->legal = &any->legal;
        any->legal.kbo = s_copy(c, F_KBO);
        any->legal.sector = s_num(p, F_SECTOR, &any->legal.has_sector);
        any->legal.type = s_num(p, F_TYPE, &any->legal.has_type);
        any->legal.framework = s_copy(c, F_FRAMEWORK);
        any->legal.message = s_copy(c, F_MESSAGE);
        break;
    case KP__DIRECTORY_RECORD__RECORD_AVAILABILITY:
        kp__availability__init(&any->availability);
        r->availability = &any->availability;
        any->availability.message = s_copy(c, F_MESSAGE);
        any->availability.sector = s_num(p, F_SECTOR, &any->availability.has_sector);
        any->availability.type = s_num(p, F_TYPE, &any->availability.has_type);
        break;
    case KP__DIRECTORY_RECORD__RECORD_PERSON:
        kp__person_entry__init(&any->person);
        r->person = &any->person;
        any->person.insz = s_copy(c, F_INSZ);
        any->person.kbo = s_copy(c, F_KBO);
        any->person.sector = s_num(p, F_SECTOR, &any->person.has_sector);
        any->person.type = s_num(p, F_TYPE, &any->person.has_type);
        any->person.capacity = s_num(p, F_CAPACITY, &any->person.has_capacity);
        any->person.from = s_copy(c, F_FROM);
        any->person.to = s_copy(c, F_TO);
        break;
    case KP__DIRECTORY_RECORD__RECORD_MAINTENANCE:
        kp__maintenance__init(&any->maintenance);
        r->maintenance = &any->maintenance;
        any->maintenance.has_id = p->values[F_ID].kind == V_NUMBER;
        any->maintenance.id = p->values[F_ID].number;
        any->maintenance.kbo = s_copy(c, F_KBO);
        any->maintenance.message = s_copy(c, F_MESSAGE);
        any->maintenance.from = s_copy(c, F_FROM);
        any->maintenance.to = s_copy(c, F_TO);
        any->maintenance.reason = s_copy(c, F_REASON);
        break;
    case KP__DIRECTORY_RECORD__RECORD_KEY:
        kp__key__init(&any->key);
        r->key = &any->key;
        any->key.public_key = s_copy(c, F_KEY);
        any->key.kind = s_copy(c, F_KIND);
        any->key.identity = s_copy(c, F_IDENTITY);
        any->key.from = s_copy(c, F_FROM);
        any->key.to = s_copy(c, F_TO);
        break;
    case KP__DIRECTORY_RECORD__RECORD_REGISTER_ENTRY:
        kp__register_entry__init(&any->register_entry);
        r->register_entry = &any->register_entry;
        any->register_entry.number = s_copy(c, F_NUMBER);
        any->register_entry.name = s_copy(c, F_NAME);
        any->register_entry.given_names = s_copy(c, F_GIVEN_NAMES);
        any->register_entry.birth_date = s_copy(c, F_BIRTH_DATE);
        any->register_entry.gender = s_copy(c, F_GENDER);
        any->register_entry.nationality = s_copy(c, F_NATIONALITY);
        any->register_entry.address = s_copy(c, F_ADDRESS);
        any->register_entry.death_date = s_copy(c, F_DEATH_DATE);
        any->register_entry.replaced_by = s_copy(c, F_REPLACED_BY);
        any->register_entry.changed_by = s_copy(c, F_CHANGED_BY);
        any->register_entry.changed_on = s_copy(c, F_CHANGED_ON);
        break;
    default:
        assert(false);
    }
}

static Kp__DirectoryOp *s_build(s_parser_t *p, const s_table_t *table)
{
    bool delete = false;
    if (p->values[F_OP].kind == V_STRING) {
        const char *op = s_str(p, F_OP);
        if (!strcmp(op, "delete"))
            delete = true;
        else if (strcmp(op, "put")) {
            s_fail(p, "unknown op '%.20s' (put or delete)", op);
            return NULL;
        }
    }
    size_t items = p->values[F_MESSAGES].kind == V_ARRAY ? p->values[F_MESSAGES].count : 0;
    s_block_t *b = malloc(sizeof *b + items * sizeof(char *) + p->used);
    if (!b) {
        s_fail(p, "out of memory");
        return NULL;
    }
    kp__directory_op__init(&b->op);
    kp__directory_record__init(&b->record);
    b->op.has_kind = true;
    b->op.kind = delete ? KP__DIRECTORY_OP__KIND__DELETE : KP__DIRECTORY_OP__KIND__PUT;
    b->op.record = &b->record;
    s_copier_t copier = {p, (char *)(b->items + items)};
    s_fill(p, table, b, &copier);
    return &b->op;
}

Kp__DirectoryOp *kp_jsonl_parse(const char *line, size_t len, char *err, size_t errlen)
{
    if (!line) {
        s_parser_t none = {.err = err, .errlen = errlen};
        s_fail(&none, "empty line");
        return NULL;
    }
    s_parser_t parser = {.p = line, .start = line, .end = line + len, .err = err, .errlen = errlen};
    if (len > KP_JSONL_MAX_LINE) {
        s_fail(&parser, "line too long (%zu bytes, at most %d)", len, KP_JSONL_MAX_LINE);
        return NULL;
    }
    //  Decoded text is never longer than its source: len + 1 bytes hold it.
    char small[2048];
    parser.scratch = len < sizeof small ? small : malloc(len + 1);
    if (!parser.scratch) {
        s_fail(&parser, "out of memory");
        return NULL;
    }
    Kp__DirectoryOp *op = NULL;
    const s_table_t *table;
    if (s_object(&parser) == 0 && (table = s_table_of(&parser)) &&
        s_fields_fit(&parser, table) == 0)
        op = s_build(&parser, table);
    if (parser.scratch != small)
        free(parser.scratch);
    if (op && kp_directory_op_check(op, err, errlen))
        kp_jsonl_op_free(&op);
    return op;
}

void kp_jsonl_op_free(Kp__DirectoryOp **op_p)
{
    if (op_p && *op_p) {
        //  The op is the first member of its block: one free releases all.
        free(*op_p);
        *op_p = NULL;
    }
}

//  ---------------------------------------------------------------------
//  Formatting

//  A string member; absent when value is NULL (the importer reads a
//  missing member as unset).
static void s_kv_str(kp_json_t *o, const char *key, const char *value)
{
    if (value)
        kp_json_kv_string(o, key, value);
}

//  Writes record as one flat JSON object, its table's fields in order.
static void s_format_body(kp_json_t *o, const Kp__DirectoryRecord *r)
{
    kp_json_object_open(o);
    switch (r->record_case) {
    case KP__DIRECTORY_RECORD__RECORD_INSTITUTION:
        kp_json_kv_string(o, "table", "institution");
        s_kv_str(o, "kbo", r->institution->kbo);
        s_kv_str(o, "name", r->institution->name);
        kp_json_kv_uint(o, "sector", r->institution->sector);
        kp_json_kv_uint(o, "type", r->institution->type);
        break;
    case KP__DIRECTORY_RECORD__RECORD_USER:
        kp_json_kv_string(o, "table", "user");
        s_kv_str(o, "id", r->user->id);
        s_kv_str(o, "kbo", r->user->kbo);
        kp_json_kv_uint(o, "sector", r->user->sector);
        kp_json_kv_uint(o, "type", r->user->type);
        kp_json_key(o, "messages");
        kp_json_array_open(o);
        for (size_t i = 0; i < r->user->n_messages; i++)
            kp_json_string(o, r->user->messages[i]);
        kp_json_array_close(o);
        break;
    case KP__DIRECTORY_RECORD__RECORD_AUTHORIZATION:
        kp_json_kv_string(o, "table", "authorization");
        kp_json_kv_uint(o, "sector", r->authorization->sector);
        kp_json_kv_uint(o, "type", r->authorization->type);
        kp_json_kv_uint(o, "capacity", r->authorization->capacity);
        s_kv_str(o, "message", r->authorization->message);
        break;
    case KP__DIRECTORY_RECORD__RECORD_LEGAL:
        kp_json_kv_string(o, "table", "legal");
        if (r->legal->kbo)
            s_kv_str(o, "kbo", r->legal->kbo);
        else {
            kp_json_kv_uint(o, "sector", r->legal->sector);
            kp_json_kv_uint(o, "type", r->legal->type);
        }
        s_kv_str(o, "framework", r->legal->framework);
        s_kv_str(o, "message", r->legal->message);
        break;
    case KP__DIRECTORY_RECORD__RECORD_AVAILABILITY:
        kp_json_kv_string(o, "table", "availability");
        s_kv_str(o, "message", r->availability->message);
        kp_json_kv_uint(o, "sector", r->availability->sector);
        kp_json_kv_uint(o, "type", r->availability->type);
        break;
    case KP__DIRECTORY_RECORD__RECORD_PERSON:
        kp_json_kv_string(o, "table", "person");
        s_kv_str(o, "insz", r->person->insz);
        s_kv_str(o, "kbo", r->person->kbo);
        kp_json_kv_uint(o, "sector", r->person->sector);
        kp_json_kv_uint(o, "type", r->person->type);
        kp_json_kv_uint(o, "capacity", r->person->capacity);
        s_kv_str(o, "from", r->person->from);
        s_kv_str(o, "to", r->person->to);
        break;
    case KP__DIRECTORY_RECORD__RECORD_MAINTENANCE:
        kp_json_kv_string(o, "table", "maintenance");
        kp_json_kv_uint(o, "id", r->maintenance->id);
        s_kv_str(o, "kbo", r->maintenance->kbo);
        s_kv_str(o, "message", r->maintenance->message);
        s_kv_str(o, "from", r->maintenance->from);
        s_kv_str(o, "to", r->maintenance->to);
        s_kv_str(o, "reason", r->maintenance->reason);
        break;
    case KP__DIRECTORY_RECORD__RECORD_KEY:
        kp_json_kv_string(o, "table", "key");
        s_kv_str(o, "key", r->key->public_key);
        s_kv_str(o, "kind", r->key->kind);
        s_kv_str(o, "identity", r->key->identity);
        s_kv_str(o, "from", r->key->from);
        s_kv_str(o, "to", r->key->to);
        break;
    case KP__DIRECTORY_RECORD__RECORD_REGISTER_ENTRY:
        kp_json_kv_string(o, "table", "register");
        s_kv_str(o, "number", r->register_entry->number);
        s_kv_str(o, "name", r->register_entry->name);
        s_kv_str(o, "given_names", r->register_entry->given_names);
        s_kv_str(o, "birth_date", r->register_entry->birth_date);
        s_kv_str(o, "gender", r->register_entry->gender);
        s_kv_str(o, "nationality", r->register_entry->nationality);
        s_kv_str(o, "address", r->register_entry->address);
        s_kv_str(o, "death_date", r->register_entry->death_date);
        s_kv_str(o, "replaced_by", r->register_entry->replaced_by);
        s_kv_str(o, "changed_by", r->register_entry->changed_by);
        s_kv_str(o, "changed_on", r->register_entry->changed_on);
        break;
    default:
        kp_json_key(o, "table");
        kp_json_null(o);
        break;
    }
    kp_json_object_close(o);
}

size_t kp_jsonl_format(const Kp__DirectoryRecord *record, char *buf, size_t size)
{
    kp_json_t *o = kp_json_new();
    if (record)
        s_format_body(o, record);
    size_t len = kp_json_length(o);
    if (size) {
        size_t n = len < size ? len : size - 1;
        memcpy(buf, kp_json_text(o), n);
        buf[n] = '\0';
    }
    kp_json_destroy(&o);
    return len;
}

//  ---------------------------------------------------------------------
//  Streaming

//  Room for four longest lines: a refill moves the unread rest down and
//  reads into the remainder, so a line never needs more than one pass.
#define S_READ_BUF (4 * KP_JSONL_MAX_LINE)

struct _kp_jsonl_reader_t {
    FILE *file;
    char *buf;
    size_t pos, fill; //  unread bytes are buf[pos..fill)
    bool eof;
    size_t line;
    uint64_t offset;
};

kp_jsonl_reader_t *kp_jsonl_reader_new(FILE *file)
{
    assert(file);
    kp_jsonl_reader_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->buf = malloc(S_READ_BUF);
    if (!self->buf) {
        free(self);
        return NULL;
    }
    self->file = file;
    return self;
}

void kp_jsonl_reader_destroy(kp_jsonl_reader_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->buf);
    free(*self_p);
    *self_p = NULL;
}

//  Moves the unread bytes down and reads more after them. 0, or -1 when
//  the file cannot be read.
static int s_refill(kp_jsonl_reader_t *self)
{
    memmove(self->buf, self->buf + self->pos, self->fill - self->pos);
    self->fill -= self->pos;
    self->pos = 0;
    size_t got = fread(self->buf + self->fill, 1, S_READ_BUF - self->fill, self->file);
    self->fill += got;
    if (got == 0) {
        if (ferror(self->file))
            return -1;
        self->eof = true;
    }
    return 0;
}

//  Drops the rest of a line too long to hold, up to its newline.
static int s_skip_line(kp_jsonl_reader_t *self)
{
    while (true) {
        char *nl = memchr(self->buf + self->pos, '\n', self->fill - self->pos);
        if (nl) {
            self->offset += (uint64_t)(nl + 1 - (self->buf + self->pos));
            self->pos = (size_t)(nl + 1 - self->buf);
            return 0;
        }
        self->offset += self->fill - self->pos;
        self->pos = self->fill;
        if (self->eof)
            return 0;
        if (s_refill(self))
            return -1;
    }
}

//  The next line, without its newline, in *line/*len: 1, or 0 at the end,
//  -1 on a read error, -2 for a line too long (skipped).
static int s_next_line(kp_jsonl_reader_t *self, const char **line, size_t *len)
{
    while (true) {
        size_t unread = self->fill - self->pos;
        char *start = self->buf + self->pos;
        char *nl = memchr(start, '\n', unread);
        if (nl || (self->eof && unread)) {
            *line = start;
            *len = nl ? (size_t)(nl - start) : unread;
            self->pos += *len + (nl ? 1 : 0);
            self->offset += *len + (nl ? 1 : 0);
            self->line++;
            return 1;
        }
        if (self->eof)
            return 0;
        if (unread > KP_JSONL_MAX_LINE) {
            self->line++;
            return s_skip_line(self) ? -1 : -2;
        }
        if (s_refill(self))
            return -1;
    }
}

static bool s_blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
            return false;
    return true;
}

kp_jsonl_status_t kp_jsonl_reader_next(kp_jsonl_reader_t *self, Kp__DirectoryOp **op_p, char *err,
                                       size_t errlen)
{
    *op_p = NULL;
    const char *line;
    size_t len;
    while (true) {
        int rc = s_next_line(self, &line, &len);
        if (rc == 0)
            return KP_JSONL_END;
        if (rc == -1) {
            snprintf(err, errlen, "read error after line %zu: %s", self->line, strerror(errno));
            return KP_JSONL_ERROR;
        }
        if (rc == -2) {
            snprintf(err, errlen, "line too long (more than %d bytes)", KP_JSONL_MAX_LINE);
            return KP_JSONL_BAD;
        }
        if (!s_blank(line, len))
            break;
    }
    *op_p = kp_jsonl_parse(line, len, err, errlen);
    return *op_p ? KP_JSONL_RECORD : KP_JSONL_BAD;
}

size_t kp_jsonl_reader_line(const kp_jsonl_reader_t *self)
{
    return self->line;
}

uint64_t kp_jsonl_reader_offset(const kp_jsonl_reader_t *self)
{
    return self->offset;
}

//  ---------------------------------------------------------------------
//  Batches

struct _kp_jsonl_batch_t {
    Kp__DirectoryOp **ops;
    size_t *lines; //  the line of each op
    size_t count, cap;
    Kp__DirectoryUpdate update;
};

kp_jsonl_batch_t *kp_jsonl_batch_new(void)
{
    kp_jsonl_batch_t *self = calloc(1, sizeof *self);
    assert(self);
    kp__directory_update__init(&self->update);
    return self;
}

void kp_jsonl_batch_clear(kp_jsonl_batch_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        kp_jsonl_op_free(&self->ops[i]);
    self->count = 0;
}

void kp_jsonl_batch_destroy(kp_jsonl_batch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_jsonl_batch_t *self = *self_p;
    kp_jsonl_batch_clear(self);
    free(self->ops);
    free(self->lines);
    free(self);
    *self_p = NULL;
}

void kp_jsonl_batch_add_line(kp_jsonl_batch_t *self, Kp__DirectoryOp *op, size_t line)
{
    if (self->count == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 1024;
        self->ops = realloc(self->ops, self->cap * sizeof *self->ops);
        self->lines = realloc(self->lines, self->cap * sizeof *self->lines);
        assert(self->ops && self->lines);
    }
    self->lines[self->count] = line;
    self->ops[self->count++] = op;
}

void kp_jsonl_batch_add(kp_jsonl_batch_t *self, Kp__DirectoryOp *op)
{
    kp_jsonl_batch_add_line(self, op, 0);
}

Kp__DirectoryUpdate *kp_jsonl_batch_update(kp_jsonl_batch_t *self)
{
    self->update.ops = self->ops;
    self->update.n_ops = self->count;
    return &self->update;
}

size_t kp_jsonl_batch_size(kp_jsonl_batch_t *self)
{
    return self->count;
}

size_t kp_jsonl_batch_line(kp_jsonl_batch_t *self, size_t index)
{
    assert(index < self->count);
    return self->lines[index];
}

void kp_jsonl_batch_remove(kp_jsonl_batch_t *self, size_t index)
{
    assert(index < self->count);
    kp_jsonl_op_free(&self->ops[index]);
    size_t after = self->count - index - 1;
    memmove(self->ops + index, self->ops + index + 1, after * sizeof *self->ops);
    memmove(self->lines + index, self->lines + index + 1, after * sizeof *self->lines);
    self->count--;
}

kp_jsonl_status_t kp_jsonl_batch_fill(kp_jsonl_batch_t *self, kp_jsonl_reader_t *reader,
                                      size_t max_ops, kp_jsonl_bad_fn *bad_fn, void *arg, char *err,
                                      size_t errlen)
{
    while (self->count < max_ops) {
        Kp__DirectoryOp *op;
        kp_jsonl_status_t status = kp_jsonl_reader_next(reader, &op, err, errlen);
        if (status == KP_JSONL_RECORD)
            kp_jsonl_batch_add_line(self, op, kp_jsonl_reader_line(reader));
        else if (status == KP_JSONL_BAD) {
            if (bad_fn && bad_fn(kp_jsonl_reader_line(reader), err, arg))
                return KP_JSONL_BAD;
        } else
            return status;
    }
    return KP_JSONL_RECORD;
}
