// send_task: a C++ program that sends one task to whichever worker serves its queue (a Python
// Celery worker or a cworker) and prints the stored result record.
//
//   send_task BROKER_URL BACKEND_URL TASK_NAME ARGS_JSON [--route PATTERN=QUEUE]...
//   send_task redis://localhost:6379/0 redis://localhost:6379/1 pyside.double '[21]'
//             --route 'pyside.*=python'      (one command line)
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <cworker/canvas.h>
#include <cworker/json.h>

#include "canvas/producer.h"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: %s BROKER_URL BACKEND_URL TASK_NAME ARGS_JSON [--route PATTERN=QUEUE]...\n",
                 argv[0]);
    return 2;
  }
  try {
    cw::canvas::Producer::Options options;
    options.broker = argv[1];
    options.backend = argv[2];
    for (int i = 5; i + 1 < argc; i += 2) {
      if (std::string(argv[i]) == "--route") {
        options.routes.push_back(cw::canvas::ParseRouteFlag(argv[i + 1]));
      }
    }
    cw::canvas::Producer producer(options);
    const std::string id = producer.Send(cw::Signature(argv[3], cw::Json::Parse(argv[4])));
    const cw::Json record = producer.Wait(id, 20.0);
    std::printf("%s\n", record.Dump().c_str());
    return record.At("status").as_string() == "SUCCESS" ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "send_task: %s\n", e.what());
    return 2;
  }
}
