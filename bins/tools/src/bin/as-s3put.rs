fn main() -> std::process::ExitCode {
    as_cli::main("as-s3put", as_tools::s3put::run)
}
