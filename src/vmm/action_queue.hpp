// The one way into a running VMM. Control-API threads post a VmmAction and
// wait for its answer; the VMM's main thread runs the actions one at a time,
// in order, so no two of them (a resume and a snapshot, say) ever overlap.
#pragma once

#include <deque>
#include <functional>
#include <future>
#include <mutex>

#include <nlohmann/json.hpp>

#include "common/http/message.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace brood {

enum class VmmActionKind { info, pause, resume, snapshot, shutdown, stats };

struct VmmAction {
    VmmActionKind kind = VmmActionKind::info;
    nlohmann::json body = nlohmann::json::object(); // parsed by the poster
};

class ActionQueue final {
public:
    using Handler = std::function<http::Response(const VmmAction&)>;

    static Result<std::unique_ptr<ActionQueue>> create();
    ActionQueue(const ActionQueue&) = delete;
    ActionQueue& operator=(const ActionQueue&) = delete;

    // Any thread: queues the action and blocks until the loop answers it.
    // Once the queue is closed, answers 409 at once.
    http::Response post(VmmAction action);

    // Readable while actions wait; the loop polls it.
    int event_fd() const { return _event.get(); }
    // The loop's thread: runs every queued action through `handler`, in order.
    void run_pending(const Handler& handler);
    // Refuses new actions and answers the queued ones: the VM is ending.
    void close();

private:
    ActionQueue() = default;
    struct Pending {
        VmmAction action;
        std::promise<http::Response> answer;
    };

    std::mutex _mutex;
    std::deque<Pending> _queue;
    bool _closed = false;
    UniqueFd _event;
};

} // namespace brood
