#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "common.h"

namespace rote::cli {

// `rote image build|list|rm`: the qemu provider's guest images.
class ImageCommands {
public:
    ImageCommands(CLI::App& app, bool& as_json);
    bool parsed() const;
    int run();

private:
    int build();
    int list();
    int remove();

    bool& m_as_json;
    CLI::App* m_root = nullptr;
    CLI::App* m_build = nullptr;
    CLI::App* m_list = nullptr;
    CLI::App* m_rm = nullptr;
    std::string m_with = "chromium";
    std::string m_out;
    std::string m_mirror;
    std::string m_size = "1280x800";
    bool m_normal = false;
    std::string m_image;
    std::string m_kept;
};

} // namespace rote::cli
