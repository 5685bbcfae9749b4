# Small helpers so every target gets the same flags (warnings as errors in our code only,
# sanitizers when asked) and every test gets the same labels.

function(cw_set_target_flags target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wno-missing-field-initializers)
  if(CWORKER_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(CWORKER_SANITIZE)
    string(REPLACE ";" "," _san "${CWORKER_SANITIZE}")
    target_compile_options(${target} PRIVATE -fsanitize=${_san} -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=${_san})
  endif()
endfunction()

# cw_add_library(NAME <target> [SHARED] SOURCES ... [DEPS ...] [PUBLIC_DEPS ...])
function(cw_add_library)
  cmake_parse_arguments(A "SHARED" "NAME" "SOURCES;DEPS;PUBLIC_DEPS" ${ARGN})
  if(A_SHARED)
    add_library(${A_NAME} SHARED ${A_SOURCES})
  else()
    add_library(${A_NAME} STATIC ${A_SOURCES})
  endif()
  target_include_directories(${A_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} PUBLIC ${A_PUBLIC_DEPS})
  cw_set_target_flags(${A_NAME})
endfunction()

# A GoogleTest executable with our flags.
function(cw_test_binary name sources deps)
  add_executable(${name} ${sources})
  target_link_libraries(${name} PRIVATE ${deps} GTest::gtest GTest::gtest_main)
  cw_set_target_flags(${name})
endfunction()

# cw_add_test(NAME <target> SOURCES ... DEPS ... [LABELS ...]): a GoogleTest binary, one ctest per TEST.
function(cw_add_test)
  cmake_parse_arguments(A "" "NAME" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT CWORKER_BUILD_TESTS)
    return()
  endif()
  cw_test_binary(${A_NAME} "${A_SOURCES}" "${A_DEPS}")
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  gtest_discover_tests(${A_NAME} PROPERTIES LABELS "${A_LABELS}"
                       WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} DISCOVERY_TIMEOUT 30)
endfunction()

# cw_add_redis_test(NAME <target> SOURCES ... DEPS ...): a GoogleTest binary that needs a real
# redis-server; ctest runs it through scripts/with-redis.sh, which starts a private one on a free
# loopback port and exports CW_TEST_REDIS_URL.
function(cw_add_redis_test)
  cmake_parse_arguments(A "" "NAME" "SOURCES;DEPS" ${ARGN})
  if(NOT CWORKER_BUILD_TESTS)
    return()
  endif()
  cw_test_binary(${A_NAME} "${A_SOURCES}" "${A_DEPS}")
  add_test(NAME ${A_NAME} COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-redis.sh $<TARGET_FILE:${A_NAME}>
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${A_NAME} PROPERTIES LABELS redis TIMEOUT 120
                       ENVIRONMENT CW_REPO_ROOT=${PROJECT_SOURCE_DIR})
endfunction()

# cw_embed_lua(<target> <file.lua>): the script's text as `kLua_<name>` in the generated header
# "<name>.lua.h", so the Lua lives in a .lua file of its own that the Python benchmark can load
# too (bench/throughput.py runs the very scripts the worker sends). Re-generated on edit.
function(cw_embed_lua target lua_file)
  get_filename_component(name ${lua_file} NAME_WE)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/lua)
  file(READ ${CMAKE_CURRENT_SOURCE_DIR}/${lua_file} CW_LUA_SOURCE)
  set(CW_LUA_NAME ${name})
  set(CW_LUA_FILE ${lua_file})
  file(CONFIGURE OUTPUT ${dir}/${name}.lua.h
       CONTENT "// Generated from @CW_LUA_FILE@ by cw_embed_lua: edit that file.\n#pragma once\ninline constexpr const char kLua_@CW_LUA_NAME@[] = R\"lua(@CW_LUA_SOURCE@)lua\";\n"
       @ONLY)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${lua_file})
  target_include_directories(${target} PRIVATE ${dir})
endfunction()
