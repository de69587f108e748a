fn main() -> std::process::ExitCode {
    as_cli::main("as-verify", as_tools::verify::run)
}
