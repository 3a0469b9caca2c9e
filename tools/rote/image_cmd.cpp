#include "image_cmd.h"

#include <chrono>
#include <iostream>
#include <sstream>

#include <rote/sandbox/qemu.h>

#include "table.h"

namespace rote::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string mebibytes(std::uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

std::string joined(const std::vector<std::string>& items)
{
    std::string text;
    for (const std::string& item : items)
        text += (text.empty() ? "" : ", ") + item;
    return text.empty() ? "-" : text;
}

// An image named by the user: a directory path, or a name under images_root().
Result<fs::path> image_dir(const std::string& name)
{
    if (name.empty())
        return runtime::default_image_dir();
    if (name.find('/') != std::string::npos || fs::exists(name))
        return fs::absolute(name);
    return ROTE_TRY(runtime::images_root()) / name;
}

json image_json(const runtime::ImageInfo& info)
{
    return json {{"name", info.dir.filename().string()}, {"dir", info.dir.string()}, {"complete", info.complete},
        {"built", info.built}, {"kernel", info.kernel}, {"guest_files", info.guest_files}, {"current", info.current}, {"bytes", info.bytes}, {"ready", info.ready},
        {"kept", info.kept}};
}

} // namespace

ImageCommands::ImageCommands(CLI::App& app, bool& as_json)
    : m_as_json(as_json)
{
    m_root = app.add_subcommand("image", "Build, list and remove the guest images of the qemu sandbox provider");
    m_root->require_subcommand(1, 1);

    m_build = m_root->add_subcommand("build",
        "Build a Debian 12 guest (debootstrap from the host's Debian mirror, Xorg, a window manager, Chromium, "
        "a user that logs in by itself) and save its booted desktop as a ready state. Needs root; takes a few "
        "minutes; an interrupted build reruns from where it stopped");
    m_build->add_option("--with", m_with, "What the guest runs besides its desktop (only chromium for now)")
        ->check(CLI::IsMember({"chromium"}))
        ->capture_default_str();
    m_build->add_option("--out", m_out, "The image's directory (default: ROTE_HOME/images/debian12)");
    m_build->add_option("--mirror", m_mirror, "Debian mirror URL (default: the host's apt source)");
    m_build->add_option("--size", m_size, "Screen size of the ready state made now, WxH (others on first use)")
        ->capture_default_str();
    m_build->add_flag("--normal", m_normal,
        "Make the ready state for a normal browser window (tabs, address bar) rather than an app window");
    m_build->add_flag("--json", m_as_json, "Print the built image as JSON");

    m_list = m_root->add_subcommand("list", "List guest images, their ready states and kept sandboxes");
    m_list->add_flag("--json", m_as_json, "Print the list as JSON");

    m_rm = m_root->add_subcommand("rm", "Remove a guest image, or with --kept one kept sandbox of it");
    m_rm->add_option("IMAGE", m_image, "An image name (from `rote image list`) or directory (default: debian12)");
    m_rm->add_option("--kept", m_kept, "Remove only this kept sandbox (its disk and saved state)");
    m_rm->add_flag("--json", m_as_json, "Print the result as JSON");
}

bool ImageCommands::parsed() const { return m_root->parsed(); }

int ImageCommands::run()
{
    if (m_build->parsed())
        return build();
    if (m_list->parsed())
        return list();
    if (m_rm->parsed())
        return remove();
    return kExitUsage;
}

int ImageCommands::build()
{
    runtime::ImageBuildOptions options;
    options.dir = m_out;
    options.mirror = m_mirror;
    options.window = m_normal ? runtime::BrowserWindow::normal : runtime::BrowserWindow::app;
    char x = 0;
    std::istringstream size(m_size);
    if (!(size >> options.width >> x >> options.height) || x != 'x' || !size.eof())
        return fail(Error(Error::Code::invalid_argument, "--size must be WxH, e.g. 1280x800"));
    const auto began = std::chrono::steady_clock::now();
    options.progress = [](const std::string& line) { std::cerr << "rote: " << line << std::endl; };
    if (auto built = runtime::build_image(options); !built.ok())
        return fail(built.error());
    fs::path dir = options.dir.empty() ? *runtime::default_image_dir() : fs::absolute(options.dir);
    auto info = runtime::image_info(dir);
    if (!info.ok())
        return fail(info.error());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    if (m_as_json) {
        json out = image_json(*info);
        out["seconds"] = seconds;
        print_json(out);
    } else {
        std::cout << "image " << dir.string() << " ready (" << mebibytes(info->bytes) << ", ready states: "
                  << joined(info->ready) << "); use it with `rote run --provider qemu WORKFLOW`\n";
    }
    return 0;
}

int ImageCommands::list()
{
    auto images = runtime::list_images();
    if (!images.ok())
        return fail(images.error());
    if (m_as_json) {
        json out = json::array();
        for (const auto& info : *images)
            out.push_back(image_json(info));
        print_json(out);
        return 0;
    }
    if (images->empty()) {
        std::cout << "No guest images. Build one with `rote image build` (as root, a few minutes).\n";
        return 0;
    }
    Table table({"NAME", "STATE", "SIZE", "BUILT", "READY STATES", "KEPT"});
    for (const auto& info : *images) {
        table.add({info.dir.filename().string(), !info.complete ? "partial" : info.current ? "built" : "stale (rebuild)", mebibytes(info.bytes),
            info.built.empty() ? "-" : info.built, joined(info.ready), joined(info.kept)});
    }
    table.print(std::cout);
    return 0;
}

int ImageCommands::remove()
{
    auto dir = image_dir(m_image);
    if (!dir.ok())
        return fail(dir.error());
    auto removed = m_kept.empty() ? runtime::remove_image(*dir) : runtime::remove_kept(*dir, m_kept);
    if (!removed.ok())
        return fail(removed.error());
    std::string what = m_kept.empty() ? "image " + dir->string() : "kept sandbox " + m_kept;
    if (m_as_json)
        print_json(json {{"removed", what}});
    else
        std::cout << "removed " << what << "\n";
    return 0;
}

} // namespace rote::cli
