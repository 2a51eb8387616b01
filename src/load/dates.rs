//! Trading-date parsing: the handful of layouts seen in users' exports, to Arrow `Date32`.

use chrono::NaiveDate;

/// Layouts accepted for the `Date` column, tried in order (day-first for `/` and `-` with a
/// trailing year, as in the Indian exchanges' exports the legacy tool reads).
pub const DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%Y/%m/%d", "%d-%m-%Y", "%d/%m/%Y", "%Y%m%d", "%d.%m.%Y"];

/// Text of the accepted layouts for error messages.
pub fn expected_formats() -> String {
    "a date such as 2024-01-31, 2024/01/31, 31-01-2024, 31/01/2024, 20240131 or 31.01.2024 \
     (an optional time after a space or 'T' is ignored)"
        .to_owned()
}

/// Days since 1970-01-01 of a date text, or `None` when no accepted layout matches.
pub fn parse_date(text: &str) -> Option<i32> {
    let text = text.trim();
    // Spreadsheet exports often append a midnight time: keep only the date part.
    let date_part = text.split([' ', 'T']).next().unwrap_or(text);
    DATE_FORMATS.iter().find_map(|f| NaiveDate::parse_from_str(date_part, f).ok()).map(date_to_days)
}

/// Days since the Unix epoch, the unit of Arrow's `Date32`.
pub fn date_to_days(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid epoch");
    (date - epoch).num_days() as i32
}

/// The calendar date of a `Date32` value.
pub fn days_to_date(days: i32) -> NaiveDate {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid epoch");
    epoch + chrono::Duration::days(days as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_layouts() {
        let want = date_to_days(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap());
        for s in [
            "2024-01-31",
            "2024/01/31",
            "31-01-2024",
            "31/01/2024",
            "20240131",
            "31.01.2024",
            "2024-01-31 00:00:00",
            "2024-01-31T09:15:00",
            " 2024-01-31 ",
        ] {
            assert_eq!(parse_date(s), Some(want), "{s}");
        }
    }

    #[test]
    fn rejects_garbage_and_impossible_dates() {
        for s in ["", "yesterday", "2024-02-30", "2024-13-01", "31/13/2024"] {
            assert_eq!(parse_date(s), None, "{s}");
        }
    }

    #[test]
    fn round_trips_days() {
        let d = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
        assert_eq!(days_to_date(date_to_days(d)), d);
        assert_eq!(date_to_days(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()), 0);
    }
}
