// Little-endian encoding helpers for the snapshot state file. The reader
// never reads past its end: every getter fails cleanly on truncation.
#pragma once

#include <cstdint>
#include <cstring>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/result.hpp"

namespace brood::snapshot {

class ByteWriter final {
public:
    void u8(uint8_t v) { _out.push_back(v); }
    void u32(uint32_t v) { raw(&v, sizeof(v)); }
    void u64(uint64_t v) { raw(&v, sizeof(v)); }
    void blob(std::span<const uint8_t> bytes) {
        u64(bytes.size());
        raw(bytes.data(), bytes.size());
    }
    void str(const std::string& s) { blob(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size())); }
    void queue(const std::deque<uint8_t>& q) { blob(std::vector<uint8_t>(q.begin(), q.end())); }
    void raw(const void* data, size_t size) {
        auto* p = static_cast<const uint8_t*>(data);
        _out.insert(_out.end(), p, p + size);
    }
    std::vector<uint8_t>& bytes() { return _out; }

private:
    std::vector<uint8_t> _out;
};

class ByteReader final {
public:
    ByteReader(std::span<const uint8_t> in, std::string what) : _in(in), _what(std::move(what)) {}

    Result<uint8_t> u8() { return get<uint8_t>(); }
    Result<uint32_t> u32() { return get<uint32_t>(); }
    Result<uint64_t> u64() { return get<uint64_t>(); }
    Result<std::vector<uint8_t>> blob() {
        uint64_t n = TRY(u64());
        auto bytes = TRY(take(n));
        return std::vector<uint8_t>(bytes.begin(), bytes.end());
    }
    Result<std::string> str() {
        auto bytes = TRY(blob());
        return std::string(bytes.begin(), bytes.end());
    }
    Result<std::deque<uint8_t>> queue() {
        auto bytes = TRY(blob());
        return std::deque<uint8_t>(bytes.begin(), bytes.end());
    }
    Result<std::span<const uint8_t>> take(uint64_t n) {
        if (n > remaining()) return fail(fmt::format("{} is truncated", _what));
        auto out = _in.subspan(_pos, n);
        _pos += n;
        return out;
    }
    size_t remaining() const { return _in.size() - _pos; }

private:
    template <typename T>
    Result<T> get() {
        auto bytes = TRY(take(sizeof(T)));
        T v;
        std::memcpy(&v, bytes.data(), sizeof(T));
        return v;
    }
    std::span<const uint8_t> _in;
    size_t _pos = 0;
    std::string _what;
};

uint32_t crc32(std::span<const uint8_t> data);

} // namespace brood::snapshot
