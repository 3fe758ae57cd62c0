#include "runtimes/docker/loop.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "runtimes/docker/curl_setup.hpp"

namespace baton::runtimes::docker {

namespace {

constexpr std::size_t kMaxErrorBody = 64 * 1024;
using Clock = std::chrono::steady_clock;

struct Active {
  Loop::Id id = 0;
  CURL* curl = nullptr;
  curl_slist* headers = nullptr;
  Loop::Request request;
  Loop::Done done;
  std::string url;
  bool status_reported = false;
  bool stopped_by_handler = false;
  char error_text[CURL_ERROR_SIZE] = {};

  ~Active() {
    if (curl != nullptr) curl_easy_cleanup(curl);
    if (headers != nullptr) curl_slist_free_all(headers);
  }
};

void report_status(Active& active) {
  if (active.status_reported || active.done.status == 0) return;
  active.status_reported = true;
  if (active.request.on_status) active.request.on_status(active.done.status);
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* active = static_cast<Active*>(user);
  std::size_t n = size * count;
  std::string_view line(data, n);
  if (long status = detail::status_of_line(line); status != 0) {
    if (status != 100) active->done.status = status;
  } else if (line == "\r\n" || line == "\n") {
    if (active->done.status >= 200) report_status(*active);
  }
  return n;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* active = static_cast<Active*>(user);
  std::size_t n = size * count;
  report_status(*active);
  if (active->done.status >= 200 && active->done.status < 300) {
    if (active->request.on_data && !active->request.on_data(std::string_view(data, n))) {
      active->stopped_by_handler = true;
      return 0;
    }
    return n;
  }
  if (active->done.body.size() + n <= kMaxErrorBody) active->done.body.append(data, n);
  return n;
}

}  // namespace

struct Loop::Impl {
  EngineOptions options;
  CURLM* multi = nullptr;
  std::thread thread;
  std::thread::id thread_id;

  mutable std::mutex mutex;  // guards commands, stopping and the id counter
  std::vector<std::function<void()>> commands;
  bool stopping = false;
  std::atomic<Id> next_id{1};

  // Owned by the loop's thread.
  std::map<Id, std::unique_ptr<Active>> active;
  std::multimap<Clock::time_point, Id> timer_order;
  std::map<Id, std::pair<Clock::time_point, std::function<void()>>> timers;
  std::atomic<std::size_t> transfer_count{0};

  void enqueue(std::function<void()> command) {
    {
      std::lock_guard lock(mutex);
      commands.push_back(std::move(command));
    }
    curl_multi_wakeup(multi);
  }

  void start_transfer(Id id, Request request) {
    auto transfer = std::make_unique<Active>();
    transfer->id = id;
    transfer->request = std::move(request);
    transfer->url = "http://docker/" + options.api_version + transfer->request.path;
    transfer->curl = curl_easy_init();
    if (transfer->curl == nullptr) {
      Done done;
      done.error = "curl_easy_init failed";
      if (transfer->request.on_done) transfer->request.on_done(done);
      return;
    }
    CURL* curl = transfer->curl;
    detail::setup(curl, options, transfer->url, transfer->request.method);
    transfer->headers = curl_slist_append(nullptr, "Expect:");
    if (!transfer->request.body.empty()) {
      transfer->headers = curl_slist_append(transfer->headers, "Content-Type: application/json");
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, transfer->headers);
    if (transfer->request.method != "GET") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(transfer->request.body.size()));
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, transfer->request.body.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, transfer.get());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, transfer.get());
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, transfer->error_text);
    curl_easy_setopt(curl, CURLOPT_PRIVATE, transfer.get());
    // Streams may be quiet for hours; a dead daemon closes the socket, which curl sees.
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 0L);
    curl_multi_add_handle(multi, curl);
    active.emplace(id, std::move(transfer));
    transfer_count = active.size();
  }

  void finish(Id id, CURLcode code) {
    auto it = active.find(id);
    if (it == active.end()) return;
    std::unique_ptr<Active> transfer = std::move(it->second);
    active.erase(it);
    transfer_count = active.size();
    curl_multi_remove_handle(multi, transfer->curl);
    Done& done = transfer->done;
    if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && transfer->stopped_by_handler)) {
      done.error = detail::transport_error(options, code, transfer->error_text);
    }
    if (done.completed()) report_status(*transfer);
    if (transfer->request.on_done) transfer->request.on_done(done);
  }

  void cancel_transfer(Id id) {
    auto it = active.find(id);
    if (it == active.end()) return;
    std::unique_ptr<Active> transfer = std::move(it->second);
    active.erase(it);
    transfer_count = active.size();
    curl_multi_remove_handle(multi, transfer->curl);
    transfer->done.cancelled = true;
    if (transfer->request.on_done) transfer->request.on_done(transfer->done);
  }

  void run() {
    for (;;) {
      std::vector<std::function<void()>> batch;
      {
        std::lock_guard lock(mutex);
        if (stopping) break;
        batch.swap(commands);
      }
      for (auto& command : batch)
        command();

      auto now = Clock::now();
      while (!timer_order.empty() && timer_order.begin()->first <= now) {
        Id id = timer_order.begin()->second;
        timer_order.erase(timer_order.begin());
        auto it = timers.find(id);
        if (it == timers.end()) continue;
        auto task = std::move(it->second.second);
        timers.erase(it);
        task();
      }

      int running = 0;
      curl_multi_perform(multi, &running);
      int queued = 0;
      while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
        if (message->msg != CURLMSG_DONE) continue;
        Active* transfer = nullptr;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &transfer);
        if (transfer != nullptr) finish(transfer->id, message->data.result);
      }

      long wait_ms = 1000;
      long suggested = -1;
      curl_multi_timeout(multi, &suggested);
      if (suggested >= 0 && suggested < wait_ms) wait_ms = suggested;
      if (!timer_order.empty()) {
        auto until = std::chrono::duration_cast<std::chrono::milliseconds>(
                         timer_order.begin()->first - Clock::now())
                         .count();
        if (until < wait_ms) wait_ms = until < 0 ? 0 : static_cast<long>(until);
      }
      {
        std::lock_guard lock(mutex);
        if (!commands.empty() || stopping) wait_ms = 0;
      }
      if (wait_ms > 0) curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait_ms), nullptr);
    }
    for (auto& [id, transfer] : active)
      curl_multi_remove_handle(multi, transfer->curl);
    active.clear();
    transfer_count = 0;
  }
};

Loop::Loop(EngineOptions options) : impl_(new Impl) {
  detail::global_init();
  impl_->options = std::move(options);
  impl_->multi = curl_multi_init();
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
  impl_->thread_id = impl_->thread.get_id();
}

Loop::~Loop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  curl_multi_wakeup(impl_->multi);
  impl_->thread.join();
  curl_multi_cleanup(impl_->multi);
}

Loop::Id Loop::add(Request request) {
  Id id = impl_->next_id++;
  impl_->enqueue([impl = impl_.get(), id, request = std::move(request)]() mutable {
    impl->start_transfer(id, std::move(request));
  });
  return id;
}

void Loop::cancel(Id id) {
  impl_->enqueue([impl = impl_.get(), id] { impl->cancel_transfer(id); });
}

void Loop::post(std::function<void()> task) {
  impl_->enqueue(std::move(task));
}

Loop::Id Loop::after(std::chrono::milliseconds delay, std::function<void()> task) {
  Id id = impl_->next_id++;
  auto when = Clock::now() + delay;
  impl_->enqueue([impl = impl_.get(), id, when, task = std::move(task)]() mutable {
    impl->timers.emplace(id, std::make_pair(when, std::move(task)));
    impl->timer_order.emplace(when, id);
  });
  return id;
}

void Loop::cancel_timer(Id id) {
  impl_->enqueue([impl = impl_.get(), id] { impl->timers.erase(id); });
}

bool Loop::on_loop_thread() const {
  return std::this_thread::get_id() == impl_->thread_id;
}

std::size_t Loop::transfers() const {
  return impl_->transfer_count;
}

}  // namespace baton::runtimes::docker
