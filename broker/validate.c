/*  validate.c - identifiers and dates of the reference directory. */
#include "validate.h"

#include <string.h>
#include <time.h>

static bool s_all_digits(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] < '0' || text[i] > '9')
            return false;
    return text[len] == '\0';
}

static uint64_t s_number(const char *text, size_t len)
{
    uint64_t value = 0;
    for (size_t i = 0; i < len; i++)
        value = value * 10 + (uint64_t)(text[i] - '0');
    return value;
}

bool kp_insz_valid(const char *text)
{
    if (!text || !s_all_digits(text, KP_INSZ_LEN))
        return false;
    unsigned month = (unsigned)s_number(text + 2, 2);
    unsigned day = (unsigned)s_number(text + 4, 2);
    unsigned base_month = month >= 40 ? month - 40 : month >= 20 ? month - 20 : month;
    if (base_month > 12 || day > 31)
        return false;
    uint64_t body = s_number(text, 9);
    uint64_t check = s_number(text + 9, 2);
    //  Born before 2000: 97 - body mod 97. From 2000: a "2" is put before.
    if (check == 97 - body % 97)
        return true;
    return check == 97 - (2000000000ULL + body) % 97;
}

static bool s_utf8_valid(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        unsigned c = *s++;
        int more = c < 0x80             ? 0
                   : (c & 0xE0) == 0xC0 ? 1
                   : (c & 0xF0) == 0xE0 ? 2
                   : (c & 0xF8) == 0xF0 ? 3
                                        : -1;
        if (c < 0x20 || c == 0x7F || more < 0 || (more == 1 && c < 0xC2) || c > 0xF4)
            return false;
        for (int i = 0; i < more; i++, s++)
            if ((*s & 0xC0) != 0x80)
                return false;
    }
    return true;
}

bool kp_text_valid(const char *text, size_t max)
{
    size_t len = strlen(text);
    return len > 0 && len <= max && s_utf8_valid(text);
}

bool kp_kbo_valid(const char *text)
{
    if (!text || !s_all_digits(text, KP_KBO_LEN))
        return false;
    if (text[0] != '0' && text[0] != '1')
        return false;
    return s_number(text + 8, 2) == 97 - s_number(text, 8) % 97;
}

//  Days from the civil date, after Howard Hinnant's algorithm; exact for
//  every date of the proleptic Gregorian calendar.
static int32_t s_days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + (int)doe - 719468);
}

static void s_civil_from_days(int32_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)yoe + era * 400 + (*m <= 2);
}

static unsigned s_month_days(int year, unsigned month)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

static int s_parse_ymd(const char *text, int32_t *days)
{
    for (int i = 0; i < 10; i++) {
        bool dash = i == 4 || i == 7;
        if (dash ? text[i] != '-' : (text[i] < '0' || text[i] > '9'))
            return -1;
    }
    int year = (int)s_number(text, 4);
    unsigned month = (unsigned)s_number(text + 5, 2);
    unsigned day = (unsigned)s_number(text + 8, 2);
    if (year < 1900 || month < 1 || month > 12 || day < 1 || day > s_month_days(year, month))
        return -1;
    *days = s_days_from_civil(year, month, day);
    return 0;
}

int kp_date_parse(const char *text, int32_t *days)
{
    if (!text || strlen(text) != 10)
        return -1;
    return s_parse_ymd(text, days);
}

void kp_date_format(int32_t days, char out[11])
{
    int y;
    unsigned m, d;
    s_civil_from_days(days, &y, &m, &d);
    out[0] = (char)('0' + y / 1000 % 10);
    out[1] = (char)('0' + y / 100 % 10);
    out[2] = (char)('0' + y / 10 % 10);
    out[3] = (char)('0' + y % 10);
    out[4] = '-';
    out[5] = (char)('0' + m / 10);
    out[6] = (char)('0' + m % 10);
    out[7] = '-';
    out[8] = (char)('0' + d / 10);
    out[9] = (char)('0' + d % 10);
    out[10] = '\0';
}

int32_t kp_date_today(void)
{
    return (int32_t)(time(NULL) / 86400);
}

static int s_two_digits(const char *text, unsigned max, unsigned *out)
{
    if (text[0] < '0' || text[0] > '9' || text[1] < '0' || text[1] > '9')
        return -1;
    *out = (unsigned)s_number(text, 2);
    return *out <= max ? 0 : -1;
}

int kp_time_parse(const char *text, int64_t *seconds)
{
    int32_t days;
    if (!text)
        return -1;
    size_t len = strlen(text);
    if (len == 10)
        return kp_date_parse(text, &days) == 0 ? (*seconds = (int64_t)days * 86400, 0) : -1;
    if (len != 20 || text[10] != 'T' || text[13] != ':' || text[16] != ':' || text[19] != 'Z')
        return -1;
    unsigned hh, mm, ss;
    if (s_parse_ymd(text, &days) || s_two_digits(text + 11, 23, &hh) ||
        s_two_digits(text + 14, 59, &mm) || s_two_digits(text + 17, 59, &ss))
        return -1;
    *seconds = (int64_t)days * 86400 + hh * 3600 + mm * 60 + ss;
    return 0;
}

void kp_time_format(int64_t seconds, char out[21])
{
    int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
    int64_t rest = seconds - days * 86400;
    kp_date_format((int32_t)days, out);
    out[10] = 'T';
    out[11] = (char)('0' + rest / 36000);
    out[12] = (char)('0' + rest / 3600 % 10);
    out[13] = ':';
    out[14] = (char)('0' + rest % 3600 / 600);
    out[15] = (char)('0' + rest % 3600 / 60 % 10);
    out[16] = ':';
    out[17] = (char)('0' + rest % 60 / 10);
    out[18] = (char)('0' + rest % 10);
    out[19] = 'Z';
    out[20] = '\0';
}
