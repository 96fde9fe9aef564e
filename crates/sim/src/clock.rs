//! Simulated time: the window being simulated and local calendar arithmetic.
//!
//! People work by their own clock, so traffic is planned in local days and hours and then
//! converted to UTC epoch milliseconds, the unit every event carries. Nothing here reads the
//! wall clock: the simulation's "now" is whatever the configuration says.

/// One second, in milliseconds.
pub const SEC: i64 = 1_000;
/// One minute, in milliseconds.
pub const MIN: i64 = 60 * SEC;
/// One hour, in milliseconds.
pub const HOUR: i64 = 60 * MIN;
/// One day, in milliseconds.
pub const DAY: i64 = 24 * HOUR;

/// The simulated interval `[start, end)`, epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First simulated instant.
    pub start: i64,
    /// First instant after the simulation.
    pub end: i64,
}

impl Window {
    /// True when `t` falls inside the window.
    pub fn contains(&self, t: i64) -> bool {
        t >= self.start && t < self.end
    }

    /// Length in milliseconds.
    pub fn len(&self) -> i64 {
        self.end.saturating_sub(self.start).max(0)
    }

    /// True when the window holds no instant.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// The local calendar day number (days since 1970-01-01 local) of `t` at `tz_min` offset.
pub fn local_day(t: i64, tz_min: i32) -> i64 {
    (t + i64::from(tz_min) * MIN).div_euclid(DAY)
}

/// UTC epoch milliseconds of local midnight starting local day `day`.
pub fn local_midnight(day: i64, tz_min: i32) -> i64 {
    day * DAY - i64::from(tz_min) * MIN
}

/// Day of the week of a day number: 0 is Monday, 6 is Sunday.
pub fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

/// Minutes since local midnight.
pub fn local_minute(t: i64, tz_min: i32) -> i64 {
    (t + i64::from(tz_min) * MIN).rem_euclid(DAY) / MIN
}

/// True during local business hours: a weekday between 08:00 and 18:00.
pub fn business_hours(t: i64, tz_min: i32) -> bool {
    let day = local_day(t, tz_min);
    let minute = local_minute(t, tz_min);
    weekday(day) < 5 && (8 * 60..18 * 60).contains(&minute)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MONDAY: i64 = 1_767_571_200_000; // 2026-01-05T00:00:00Z

    #[test]
    fn calendar() {
        assert_eq!(weekday(local_day(MONDAY, 0)), 0);
        assert_eq!(weekday(local_day(MONDAY, -480)), 6); // still Sunday in San Francisco
        assert_eq!(local_midnight(local_day(MONDAY, 60), 60), MONDAY - HOUR);
        assert_eq!(local_minute(MONDAY + 9 * HOUR, 60), 10 * 60);
        assert!(business_hours(MONDAY + 9 * HOUR, 0));
        assert!(!business_hours(MONDAY + 9 * HOUR, -480));
        assert!(!business_hours(MONDAY + 5 * DAY + 10 * HOUR, 0));
    }
}
