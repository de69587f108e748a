fn main() -> std::process::ExitCode {
    as_cli::main_without_files("as-tools", as_tools::toolbox::run)
}
