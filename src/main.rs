fn main() -> std::process::ExitCode {
    dcs_session_exporter::memory::tune_allocator();
    dcs_session_exporter::cli::main()
}
