fn main() -> std::process::ExitCode {
    as_cli::main("as-encode", as_tools::encode::run)
}
