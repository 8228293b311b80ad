/// The month partitions of `iolog.generations`: `generations_pYYYYMM` holds the rows whose
/// `created_at` (microseconds since the epoch, UTC) falls in that calendar month.
///
/// A month is numbered from 1970-01 (0); partitions are created ahead of need (the current
/// month and the next three at start-up, any other month the first time a row needs it) and
/// dropped whole by the retention purge. Rows further than a few months ahead of the clock go
/// to `generations_default`, so a wrong clock on one gateway cannot create partitions without end.
enum MonthPartition {
    /// Months ahead of now for which a partition is created on demand.
    static let monthsAhead = 3

    static func month(ofMicros micros: Int64) -> Int {
        let days = Int(micros.floorDivided(by: 86_400_000_000))
        let (year, month) = civil(fromDays: days)
        return (year - 1970) * 12 + (month - 1)
    }

    static func start(of month: Int) -> Int64 {
        let year = 1970 + month.floorDivided(by: 12)
        let monthOfYear = month - (year - 1970) * 12 + 1
        return Int64(days(fromCivil: year, month: monthOfYear, day: 1)) * 86_400_000_000
    }

    static func end(of month: Int) -> Int64 { start(of: month + 1) }

    static func tableName(_ month: Int) -> String {
        let year = 1970 + month.floorDivided(by: 12)
        let monthOfYear = month - (year - 1970) * 12 + 1
        return "generations_p\(year)\(monthOfYear < 10 ? "0" : "")\(monthOfYear)"
    }

    /// The month a table name stands for, nil for any other table.
    static func month(ofTable name: String) -> Int? {
        guard name.hasPrefix("generations_p"), name.count == 19, let value = Int(name.dropFirst(13)) else { return nil }
        let year = value / 100
        let monthOfYear = value % 100
        guard (1...12).contains(monthOfYear) else { return nil }
        return (year - 1970) * 12 + monthOfYear - 1
    }

    /// Days since 1970-01-01 → (year, month), proleptic Gregorian (H. Hinnant's algorithm).
    private static func civil(fromDays days: Int) -> (Int, Int) {
        let z = days + 719_468
        let era = z.floorDivided(by: 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month)
    }

    private static func days(fromCivil year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = y.floorDivided(by: 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

extension BinaryInteger {
    /// Division rounding toward negative infinity (times before 1970 stay in their month).
    func floorDivided(by divisor: Self) -> Self {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
