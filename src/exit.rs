//! Process exit codes (documented in the README; Airflow retries only 75).

use crate::notion::ErrorClass;

/// Everything worked.
pub const OK: u8 = 0;
/// Finished, but some databases failed.
pub const PARTIAL: u8 = 1;
/// Usage or configuration error: fix the named variable or flag.
pub const USAGE: u8 = 2;
/// Authentication, permission, or a database not shared with the integration.
pub const AUTH: u8 = 3;
/// Internal error (a bug, or a payload that cannot be stored safely).
pub const INTERNAL: u8 = 70;
/// Transient failure (throttling, outages, write conflicts): safe to retry later.
pub const TRANSIENT: u8 = 75;

/// The exit code of one error class.
pub fn for_class(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Auth => AUTH,
        ErrorClass::Transient => TRANSIENT,
        ErrorClass::Config => USAGE,
        ErrorClass::Internal => INTERNAL,
    }
}

/// The exit code of a multi-database command: 0 when nothing failed; 3 when any failure needs a permission
/// fix; 75 when every failure is transient; otherwise 1 when something succeeded, else the failure's code.
pub fn for_outcomes(total: usize, failures: &[ErrorClass]) -> u8 {
    if failures.is_empty() {
        return OK;
    }
    if failures.contains(&ErrorClass::Auth) {
        return AUTH;
    }
    if failures.iter().all(|c| *c == ErrorClass::Transient) {
        return TRANSIENT;
    }
    if failures.contains(&ErrorClass::Config) {
        return USAGE;
    }
    if failures.len() < total {
        PARTIAL
    } else {
        INTERNAL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_codes() {
        assert_eq!(for_outcomes(2, &[]), OK);
        assert_eq!(for_outcomes(2, &[ErrorClass::Auth]), AUTH);
        assert_eq!(
            for_outcomes(2, &[ErrorClass::Transient, ErrorClass::Transient]),
            TRANSIENT
        );
        assert_eq!(for_outcomes(2, &[ErrorClass::Internal]), PARTIAL);
        assert_eq!(for_outcomes(1, &[ErrorClass::Internal]), INTERNAL);
    }
}
