package se.patientkontrakt.sandbox;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.autoconfigure.elasticsearch.ElasticsearchRestClientAutoConfiguration;
import org.springframework.boot.autoconfigure.flyway.FlywayAutoConfiguration;
import org.springframework.boot.autoconfigure.orm.jpa.HibernateJpaAutoConfiguration;
import org.springframework.boot.autoconfigure.thymeleaf.ThymeleafAutoConfiguration;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;

/**
 * Entry point of the HAPI FHIR JPA sandbox: a peer FHIR R4 server for the interop tests and benchmarks.
 *
 * <p>Excluded auto-configurations: JPA is wired by {@link JpaConfiguration} with HAPI's own entity
 * manager factory and Hibernate creates the schema; Flyway, the Elasticsearch client and Thymeleaf
 * only come along as HAPI's transitive dependencies and are not used.
 */
@SpringBootApplication(
		exclude = {
			HibernateJpaAutoConfiguration.class,
			FlywayAutoConfiguration.class,
			ElasticsearchRestClientAutoConfiguration.class,
			ThymeleafAutoConfiguration.class
		})
public class SandboxApplication {

	public static void main(String[] args) {
		SpringApplication.run(SandboxApplication.class, args);
	}

	/** Serves the FHIR API under /fhir, so the base URL is http://127.0.0.1:PORT/fhir. */
	@Bean
	public ServletRegistrationBean<FhirServlet> fhirServletRegistration(FhirServlet theServlet) {
		ServletRegistrationBean<FhirServlet> registration = new ServletRegistrationBean<>(theServlet, "/fhir/*");
		// Initialise at start-up, so the first request does not pay for building the capability statement.
		registration.setLoadOnStartup(1);
		return registration;
	}
}
