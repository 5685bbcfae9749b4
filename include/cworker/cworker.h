// Everything a task author includes.
#pragma once

#include <cworker/canvas.h>
#include <cworker/errors.h>
#include <cworker/http.h>
#include <cworker/io.h>
#include <cworker/json.h>
#include <cworker/redis.h>
#include <cworker/task.h>
