#include "vmm/action_queue.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

namespace brood {
namespace {

http::Response ending() { return http::error(409, "wrong_state", "the VM is shutting down"); }

} // namespace

Result<std::unique_ptr<ActionQueue>> ActionQueue::create() {
    std::unique_ptr<ActionQueue> q(new ActionQueue());
    q->_event.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!q->_event) return fail_errno("eventfd");
    return q;
}

http::Response ActionQueue::post(VmmAction action) {
    std::future<http::Response> answer;
    {
        std::lock_guard lock(_mutex);
        if (_closed) return ending();
        _queue.push_back(Pending{std::move(action), {}});
        answer = _queue.back().answer.get_future();
    }
    uint64_t one = 1;
    (void)!::write(_event.get(), &one, sizeof(one));
    return answer.get();
}

void ActionQueue::run_pending(const Handler& handler) {
    uint64_t count = 0;
    (void)!::read(_event.get(), &count, sizeof(count));
    while (true) {
        Pending next;
        {
            std::lock_guard lock(_mutex);
            if (_queue.empty()) return;
            next = std::move(_queue.front());
            _queue.pop_front();
        }
        try {
            next.answer.set_value(handler(next.action));
        } catch (...) {
            // Rethrown in the posting thread, where the router answers it.
            next.answer.set_exception(std::current_exception());
        }
    }
}

void ActionQueue::close() {
    std::deque<Pending> left;
    {
        std::lock_guard lock(_mutex);
        _closed = true;
        left.swap(_queue);
    }
    for (auto& p : left) p.answer.set_value(ending());
}

} // namespace brood
