fn main() -> std::process::ExitCode {
    dcs_session_exporter::cli::main()
}
