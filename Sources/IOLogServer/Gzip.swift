import CZlib

/// Inflates `Content-Encoding: gzip` bodies through zlib, never past a bound: a gzip bomb stops
/// at `limit` bytes of output instead of filling memory.
enum Gzip {
    enum Failure: Error {
        /// The inflated body would be larger than the limit.
        case tooLarge
        /// Not gzip, truncated, or corrupt.
        case malformed
    }

    /// DEFLATE expands at most about 1,032 times, so a compressed body of `n` bytes never
    /// inflates past this (the budget a request reserves for its inflated body).
    static func largestInflation(of compressed: Int, limit: Int) -> Int {
        min(limit, compressed.multipliedReportingOverflow(by: 1_032).overflow ? limit : compressed * 1_032)
    }

    static func inflate(_ compressed: [UInt8], limit: Int) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        guard iolog_inflate_init_gzip(&stream) == Z_OK else { throw .malformed }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var status = Z_OK
        try compressed.withUnsafeBufferPointer { (input) throws(Failure) in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            while status != Z_STREAM_END {
                let produced = chunk.withUnsafeMutableBufferPointer { buffer -> Int in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return buffer.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END else { throw .malformed }
                guard output.count + produced <= limit else { throw .tooLarge }
                output.append(contentsOf: chunk[0..<produced])
                // No progress and no input left: the stream ended early.
                if status == Z_OK, produced == 0, stream.avail_in == 0 { throw .malformed }
            }
        }
        // Trailing bytes after the gzip member are not a body we understand.
        guard stream.avail_in == 0 else { throw .malformed }
        return output
    }
}
