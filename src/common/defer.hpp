// Scope guard: runs a callable when the scope ends, unless cancelled.
#pragma once

#include <utility>

namespace brood {

template <typename F>
class [[nodiscard]] Defer final {
public:
    explicit Defer(F fn) : _fn(std::move(fn)) {}
    Defer(const Defer&) = delete;
    Defer& operator=(const Defer&) = delete;
    ~Defer() {
        if (_armed) _fn();
    }
    void cancel() { _armed = false; }

private:
    F _fn;
    bool _armed = true;
};

} // namespace brood
