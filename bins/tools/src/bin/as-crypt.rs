fn main() -> std::process::ExitCode {
    as_cli::main("as-crypt", as_tools::crypt::run)
}
