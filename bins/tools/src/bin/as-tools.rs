fn main() -> std::process::ExitCode {
    as_cli::main("as-tools", as_tools::toolbox::run)
}
