// The identity tests/unit/status_host.cpp gives the host "appliance" (skerry_app_name, skerry_version), for
// checks of /status.
#pragma once

#define SKERRY_HOST_APP_NAME "http"
#define SKERRY_HOST_VERSION "host-test"
