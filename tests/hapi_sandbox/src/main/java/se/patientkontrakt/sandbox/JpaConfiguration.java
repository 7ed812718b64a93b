package se.patientkontrakt.sandbox;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirPostgresDialect;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import jakarta.persistence.EntityManagerFactory;
import java.util.Properties;
import javax.sql.DataSource;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.autoconfigure.jdbc.DataSourceProperties;
import org.springframework.boot.autoconfigure.orm.jpa.JpaProperties;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;

/**
 * The HAPI FHIR JPA server for FHIR R4: HAPI's own configuration classes (DAOs, resource providers,
 * search, validation support) plus the few beans HAPI leaves to the application: the storage
 * settings and the JPA plumbing on top of the DataSource that Spring Boot builds from
 * {@code spring.datasource.*} (H2 in memory by default, PostgreSQL when HAPI_DATABASE_URL is set).
 */
@Configuration
@EnableConfigurationProperties(JpaProperties.class)
@Import({
	JpaR4Config.class,
	HapiJpaConfig.class,
	ThreadPoolFactoryConfig.class,
	// HAPI's batch framework and the jobs its services submit (reindexing after a SearchParameter
	// change, terminology storage, delete-expunge), run over in-process message channels.
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	SubscriptionChannelConfig.class
})
public class JpaConfiguration {

	/** HAPI's defaults, except where a peer server for tests needs otherwise. */
	@Bean
	public JpaStorageSettings jpaStorageSettings() {
		JpaStorageSettings settings = new JpaStorageSettings();
		// Our resources may reference resources kept on other servers by absolute URL.
		settings.setAllowExternalReferences(true);
		// Test clean-up uses conditional deletes that can match several resources.
		settings.setAllowMultipleDelete(true);
		// HAPI otherwise answers an identical search from a cache for one minute, so a test would not
		// see what it has just written.
		settings.setReuseCachedSearchResultsForMillis(null);
		// The official R4 examples the interop suite loads unchanged reference resources that are
		// not among them (Encounter/f201, Organization/1, ...); both servers keep such references
		// as they are, as FHIR allows.
		settings.setEnforceReferentialIntegrityOnWrite(false);
		// :contains is a modifier of R4 string search; HAPI turns it off by default for speed.
		settings.setAllowContainsSearches(true);
		// Kept at HAPI's defaults: missing-field indexing off (:missing still works, more slowly),
		// referential integrity enforced on delete, no placeholder reference targets.
		return settings;
	}

	/** Partitioning stays off (HAPI's default); HAPI expects the bean to exist. */
	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	/** No subscription channel is enabled; HAPI expects the bean to exist. */
	@Bean
	public SubscriptionSettings subscriptionSettings() {
		return new SubscriptionSettings();
	}

	@Bean
	@Primary
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			ConfigurableListableBeanFactory theBeanFactory,
			FhirContext theFhirContext,
			JpaStorageSettings theStorageSettings,
			DataSource theDataSource,
			DataSourceProperties theDataSourceProperties,
			JpaProperties theJpaProperties) {
		// HAPI's factory bean registers the entities and the Hibernate services its dialects rely on.
		LocalContainerEntityManagerFactoryBean factory = HapiEntityManagerFactoryUtil.newEntityManagerFactory(
				theBeanFactory, theFhirContext, theStorageSettings);
		factory.setPersistenceUnitName("HAPI_PU");
		factory.setDataSource(theDataSource);

		Properties properties = new Properties();
		properties.putAll(theJpaProperties.getProperties());
		// HAPI reads the dialect back from these properties, so it must be named here explicitly.
		properties.put("hibernate.dialect", dialectFor(theDataSourceProperties.determineUrl()));
		factory.setJpaProperties(properties);
		return factory;
	}

	@Bean
	@Primary
	public JpaTransactionManager transactionManager(EntityManagerFactory theEntityManagerFactory) {
		return new JpaTransactionManager(theEntityManagerFactory);
	}

	/** HAPI's dialects add what its schema and queries need on top of Hibernate's. */
	private static String dialectFor(String theJdbcUrl) {
		if (theJdbcUrl.startsWith("jdbc:postgresql:")) {
			return HapiFhirPostgresDialect.class.getName();
		}
		if (theJdbcUrl.startsWith("jdbc:h2:")) {
			return HapiFhirH2Dialect.class.getName();
		}
		throw new IllegalStateException("Only H2 and PostgreSQL are supported, not " + theJdbcUrl);
	}
}
