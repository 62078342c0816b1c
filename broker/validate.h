/*  validate.h - identifiers and dates of the reference directory.

    Pure functions, no allocation, safe from any thread. Every identifier
    that enters from a file or the network passes through here first.
*/
#ifndef KP_VALIDATE_H_INCLUDED
#define KP_VALIDATE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Length of an INSZ/NISS (national register or bis number) and of a KBO.
#define KP_INSZ_LEN 11
#define KP_KBO_LEN 10

//  True if text is exactly 11 digits whose last two are the mod-97 check
//  of the first nine (born before 2000) or of "2" followed by them (born
//  from 2000 on). The month may be 0-12, or raised by 20 or 40 for bis
//  numbers; the day 0-31 (0: date of birth unknown).
bool kp_insz_valid(const char *text);

//  True if text is exactly 10 digits, starting with 0 or 1, whose last two
//  are 97 minus the first eight modulo 97.
bool kp_kbo_valid(const char *text);

//  Parses a strict ISO date "YYYY-MM-DD" (years 1900-9999, real calendar
//  days) into days since 1970-01-01. Returns 0 on success, -1 if not.
int kp_date_parse(const char *text, int32_t *days);

//  Writes days since 1970-01-01 as "YYYY-MM-DD" into out (11 bytes).
void kp_date_format(int32_t days, char out[11]);

//  True if text is 1 to max bytes of UTF-8 without control characters
//  (names, addresses, reasons).
bool kp_text_valid(const char *text, size_t max);

//  Today's date (UTC) in days since 1970-01-01.
int32_t kp_date_today(void);

//  Parses "YYYY-MM-DDTHH:MM:SSZ" (or a bare date, read as midnight UTC)
//  into seconds since the epoch. Returns 0 on success, -1 if not.
int kp_time_parse(const char *text, int64_t *seconds);

//  Writes seconds since the epoch as "YYYY-MM-DDTHH:MM:SSZ" (21 bytes).
void kp_time_format(int64_t seconds, char out[21]);

#endif
